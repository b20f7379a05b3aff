import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  type BlockWriter,
  openBlockWriter,
  RingWriter,
  ThreadWriter,
} from "../../lib/images/block_writer.ts";
import { BLOCK, BLOCKS, BlockSink } from "../../lib/images/sink.ts";
import { SystemError } from "../../lib/errors.ts";
import { WriteRing } from "../../lib/os/uring.ts";
import { openWriteNoFollow } from "../../lib/os/libc.ts";
import { withTempDir } from "../support/temp_dir.ts";
import { nodeStreamHash, openStreamHash, type StreamHash } from "../../lib/os/stream_hash.ts";
import { EvpDigest } from "../../lib/os/libcrypto.ts";
import { skippable } from "../support/skip.ts";

const noRing = (() => {
  const r = WriteRing.open(1, 4096);
  r?.close();
  return r === undefined;
})();

const noLibcrypto = (() => {
  const d = EvpDigest.open("sha256");
  d?.close();
  return d === undefined;
})();

/** The hashes a sink is fed to: OpenSSL's on a thread (as a pull does here), node:crypto's. */
const hashes: [string, () => Promise<StreamHash>, boolean][] = [
  ["OpenSSL", () => openStreamHash("sha256"), noLibcrypto],
  ["node:crypto", () => nodeStreamHash("sha256"), false],
];

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
    (f, p) => openBlockWriter(f, p, BLOCK, BLOCKS),
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

for (
  const [[kind, open, expected, noWriter], [hashKind, openHash, noHash]] of writers.flatMap((w) =>
    hashes.map((h) => [w, h] as const)
  )
) {
  Deno.test({
    ...skippable(
      `${kind}, ${hashKind} hash: a stream of 6.5 blocks after a kept prefix lands in order, ` +
        "hashed, progress per block",
      noWriter || noHash ? "this writer or hash is not available here" : undefined,
    ),
    fn: () =>
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
        const writer = await open(file, path);
        assert.ok(writer instanceof expected);
        const blocks: number[] = [];
        const hash = await openHash();
        const sink = new BlockSink(writer, hash, prefix.length, path, (d) => {
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
      }),
  });
}

Deno.test("ThreadWriter and RingWriter: a full disk (/dev/full) is one SystemError naming the file", async () => {
  const make: [string, (f: Deno.FsFile) => BlockWriter | undefined][] = [
    ["thread", (f) => new ThreadWriter(f)],
    ["ring", (f) => {
      const ring = WriteRing.open(BLOCKS * BLOCK / 32768, 32768);
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
    const sink = new BlockSink(writer, await nodeStreamHash("sha256"), 0, "/x/y.part", () => {});
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

Deno.test("RingWriter: after a chain falls short, what later chains wrote past the gap is cut off and rewritten", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/x.part`;
    const file = await Deno.open(path, { read: true, write: true, create: true });
    const raw = await Deno.open(path, { write: true });
    // A ring whose first chain writes half its block, and whose later chains write zeros in full
    // (as chains run after a failed one would, past the gap): RingWriter must not keep them.
    let chains = 0;
    const fake = {
      start(_fd: number, data: Uint8Array, offset: number) {
        raw.seekSync(offset, Deno.SeekMode.Start);
        const id = chains++;
        raw.writeSync(id === 0 ? data.subarray(0, data.length / 2) : new Uint8Array(data.length));
        return id;
      },
      finish: (id: number) => id === 0 ? BLOCK / 2 : BLOCK,
      close() {},
    };
    const writer = new RingWriter(file, fake as unknown as WriteRing, -1);
    const data = crypto.getRandomValues(new Uint8Array(65536));
    const blocks = [0, 1, 2].map((i) =>
      new Uint8Array(BLOCK).map((_, j) => data[(i * 7 + j) % 65536]!)
    );
    try {
      blocks.forEach((b, i) => writer.start(b, i * BLOCK));
      for (const _ of blocks) await writer.finish();
      const more = new Uint8Array(BLOCK).fill(5);
      writer.start(more, 3 * BLOCK); // after the failure: Deno's writes
      await writer.finish();
      assert.equal(chains, 3);
      const got = Deno.readFileSync(path);
      assert.equal(got.length, 4 * BLOCK);
      for (const [i, b] of [...blocks, more].entries()) {
        assert.ok(
          got.subarray(i * BLOCK, (i + 1) * BLOCK).every((x, j) => x === b[j]),
          `block ${i}`,
        );
      }
    } finally {
      raw.close();
      file.close();
    }
  }));

Deno.test("RingWriter: when the rest cannot be written either, the file is what the short chain wrote", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/x.part`;
    const real = await Deno.open(path, { read: true, write: true, create: true });
    // Deno's writes fail as on a full disk; truncate and seek are the file's own.
    const full = {
      truncate: (n: number) => real.truncate(n),
      seek: (n: number, w: Deno.SeekMode) => real.seek(n, w),
      write: () => Promise.reject(new Error("No space left on device (os error 28)")),
    };
    let chains = 0;
    const fake = {
      start(_fd: number, data: Uint8Array, offset: number) {
        real.seekSync(offset, Deno.SeekMode.Start);
        real.writeSync(chains++ === 0 ? data.subarray(0, 1000) : data); // later chains: past a gap
        return chains - 1;
      },
      finish: (id: number) => id === 0 ? 1000 : BLOCK,
      close() {},
    };
    const writer = new RingWriter(full as unknown as Deno.FsFile, fake as unknown as WriteRing, -1);
    const blocks = [1, 2, 3].map((v) => new Uint8Array(BLOCK).fill(v));
    try {
      blocks.forEach((b, i) => writer.start(b, i * BLOCK));
      await assert.rejects(() => writer.finish(), /No space left/);
      await writer.finish(); // nothing left in flight
      const got = Deno.readFileSync(path);
      assert.equal(got.length, 1000, "bytes in the file");
      assert.ok(got.every((b) => b === 1));
    } finally {
      real.close();
    }
  }));
