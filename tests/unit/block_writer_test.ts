import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  type BlockWriter,
  openBlockWriter,
  RingWriter,
  ThreadWriter,
} from "../../lib/images/block_writer.ts";
import { BLOCK, BlockSink } from "../../lib/images/sink.ts";
import { SystemError } from "../../lib/errors.ts";
import { WriteRing } from "../../lib/os/uring.ts";
import { openWriteNoFollow } from "../../lib/os/libc.ts";
import { withTempDir } from "../support/temp_dir.ts";

const noRing = (() => {
  const r = WriteRing.open(1, 4096);
  r?.close();
  return r === undefined;
})();

/** Writers of both kinds into `file` (open at `path`), the class expected, whether to skip. */
const writers: [
  string,
  (file: Deno.FsFile, path: string) => Promise<BlockWriter>,
  typeof ThreadWriter | typeof RingWriter,
  boolean,
][] = [
  ["ThreadWriter", (file) => Promise.resolve(new ThreadWriter(file)), ThreadWriter, false],
  [
    "openBlockWriter (a RingWriter here)",
    (f, p) => openBlockWriter(f, p, BLOCK),
    RingWriter,
    noRing,
  ],
];

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

for (const [kind, open, expected, ignore] of writers) {
  Deno.test({
    name:
      `${kind}: a stream of 2.5 blocks after a kept prefix lands in order, hashed, progress per block`,
    ignore,
    fn: () =>
      withTempDir(async (dir) => {
        const path = `${dir}/x.part`;
        const prefix = crypto.getRandomValues(new Uint8Array(1000));
        Deno.writeFileSync(path, prefix);
        const data = new Uint8Array(BLOCK * 2.5);
        for (let i = 0; i < data.length; i += 65536) {
          crypto.getRandomValues(data.subarray(i, i + 65536));
        }
        const file = await Deno.open(path, { read: true, write: true });
        await file.seek(prefix.length, Deno.SeekMode.Start);
        const writer = await open(file, path);
        assert.ok(writer instanceof expected);
        const blocks: number[] = [];
        const sink = new BlockSink(writer, createHash("sha256"), prefix.length, path, (d) => {
          blocks.push(d);
        });
        try {
          await feed(sink, data, 100_000);
          await sink.drain();
        } finally {
          await sink.quiesce();
          file.close();
        }
        const want = createHash("sha256").update(data).digest("hex");
        assert.equal(sink.hash.digest("hex"), want);
        assert.deepEqual(blocks, [BLOCK, 2 * BLOCK, 2.5 * BLOCK].map((n) => prefix.length + n));
        const got = Deno.readFileSync(path);
        assert.deepEqual(got.subarray(0, prefix.length), prefix);
        assert.ok(got.subarray(prefix.length).every((b, i) => b === data[i]));
        assert.equal(got.length, prefix.length + data.length);
      }),
  });
}

Deno.test("ThreadWriter and RingWriter: a full disk (/dev/full) is one SystemError naming the file", async () => {
  const make: [string, (f: Deno.FsFile) => BlockWriter | undefined][] = [
    ["thread", (f) => new ThreadWriter(f)],
    ["ring", (f) => {
      const ring = WriteRing.open(BLOCK / 32768, 32768);
      return ring && new RingWriter(f, ring, openWriteNoFollow("/dev/full")!);
    }],
  ];
  for (const [kind, mk] of make) {
    const file = await Deno.open("/dev/full", { write: true });
    const writer = mk(file);
    if (writer === undefined) {
      assert.ok(noRing, `${kind}: no writer although io_uring works`);
      file.close();
      continue;
    }
    const sink = new BlockSink(writer, createHash("sha256"), 0, "/x/y.part", () => {});
    try {
      await assert.rejects(
        () => feed(sink, new Uint8Array(BLOCK + 10), BLOCK).then(() => sink.drain()),
        (e) =>
          e instanceof SystemError &&
          /^Disk full while writing "\/x\/y\.part"; free some space/.test(e.message),
        kind,
      );
    } finally {
      await sink.quiesce();
      file.close();
    }
  }
});
