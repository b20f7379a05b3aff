import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ThreadWriter } from "../../lib/images/block_writer.ts";
import { BLOCK, BlockSink } from "../../lib/images/sink.ts";
import { SystemError } from "../../lib/errors.ts";
import { withTempDir } from "../support/temp_dir.ts";
import { openStreamHash, type StreamHash } from "../../lib/os/stream_hash.ts";

/** Feeds `data` into `sink` in reads of up to `step` bytes, as a download does. */
async function feed(sink: BlockSink, data: Uint8Array, step: number): Promise<void> {
  for (let at = 0; at < data.length;) {
    const space = sink.space();
    const n = Math.min(space.length, step, data.length - at);
    space.set(data.subarray(at, at + n));
    at += n;
    await sink.advance(n);
  }
}

Deno.test("ThreadWriter, node:crypto hash: a stream of 6.5 blocks after a kept prefix lands in order, hashed, progress per block", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/x.part`;
    const prefix = crypto.getRandomValues(new Uint8Array(1000));
    Deno.writeFileSync(path, prefix);
    const data = new Uint8Array(BLOCK * 6.5); // more blocks than the sink holds
    for (let i = 0; i < data.length; i += 65536) {
      crypto.getRandomValues(data.subarray(i, i + 65536));
    }
    const file = await Deno.open(path, { read: true, write: true });
    await file.seek(prefix.length, Deno.SeekMode.Start);
    const blocks: number[] = [];
    const hash = await openStreamHash("sha256");
    const sink = new BlockSink(new ThreadWriter(file), hash, prefix.length, path, (d) => {
      blocks.push(d);
    });
    let got: string;
    try {
      await feed(sink, data, 100_000);
      await sink.drain();
      got = hash.hex();
    } finally {
      await sink.quiesce();
      hash.close();
      file.close();
    }
    assert.equal(got, createHash("sha256").update(data).digest("hex"));
    const ends = [1, 2, 3, 4, 5, 6, 6.5].map((n) => prefix.length + n * BLOCK);
    assert.deepEqual(blocks, ends);
    const file2 = Deno.readFileSync(path);
    assert.deepEqual(file2.subarray(0, prefix.length), prefix);
    assert.ok(file2.subarray(prefix.length).every((b, i) => b === data[i]));
    assert.equal(file2.length, prefix.length + data.length);
  }));

Deno.test("ThreadWriter: a full disk (/dev/full) is one SystemError naming the file", async () => {
  const file = await Deno.open("/dev/full", { write: true });
  const sink = new BlockSink(
    new ThreadWriter(file),
    await openStreamHash("sha256"),
    0,
    "/x/y.part",
    () => {},
  );
  try {
    await assert.rejects(
      () => feed(sink, new Uint8Array(BLOCK + 10), BLOCK).then(() => sink.drain()),
      (e) =>
        e instanceof SystemError &&
        /^Disk full while writing "\/x\/y\.part"; free some space/.test(e.message),
    );
  } finally {
    await sink.quiesce();
    file.close();
  }
});

Deno.test("BlockSink: a block is not refilled before its hashing has finished", async () => {
  // A hash that reads each block 30 ms after it was handed over, as a slow thread would.
  const seen: Uint8Array[] = [];
  const slow: StreamHash = {
    name: "sha256",
    update: (bytes) =>
      new Promise((resolve) =>
        setTimeout(() => {
          seen.push(bytes.slice());
          resolve();
        }, 30)
      ),
    hex: () => "",
    close() {},
  };
  const file = await Deno.open("/dev/null", { write: true });
  const sink = new BlockSink(new ThreadWriter(file), slow, 0, "/x/y.part", () => {});
  const data = new Uint8Array(BLOCK * 3).map((_, i) => Math.floor(i / BLOCK) + 1);
  try {
    await feed(sink, data, BLOCK / 4);
    await sink.drain();
  } finally {
    await sink.quiesce();
    file.close();
  }
  assert.deepEqual(
    seen.map((b) => [b.length, b[0], b[BLOCK - 1]]),
    [1, 2, 3].map((v) => [BLOCK, v, v]),
  );
});
