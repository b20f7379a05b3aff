import assert from "node:assert/strict";
import { fillWriteSqe, parseRingParams, WriteRing, writtenPrefix } from "../../lib/os/uring.ts";
import { closeFd, openWriteNoFollow } from "../../lib/os/libc.ts";
import { withTempDir } from "../support/temp_dir.ts";
import { skippable } from "../support/skip.ts";

/** Whether this kernel lets this process set up an io_uring (the ring tests need one). */
const noRing = (() => {
  const r = WriteRing.open(1, 4096);
  r?.close();
  return r === undefined;
})();

function random(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
  return b;
}

Deno.test("parseRingParams reads the entry counts, features and ring offsets of io_uring_params", () => {
  const p = new Uint8Array(120);
  const v = new DataView(p.buffer);
  const put = (at: number, x: number) => v.setUint32(at, x, true);
  put(0, 64);
  put(4, 128);
  put(20, 0x3ffff);
  [0, 64, 4, 8, 0, 0, 320].forEach((x, i) => put(40 + 4 * i, x)); // sq: head tail mask … array
  [128, 192, 12, 16, 60, 384].forEach((x, i) => put(80 + 4 * i, x)); // cq: head tail mask … cqes
  assert.deepEqual(parseRingParams(p), {
    sqEntries: 64,
    cqEntries: 128,
    features: 0x3ffff,
    sq: { head: 0, tail: 64, mask: 4, entries: 320 },
    cq: { head: 128, tail: 192, mask: 12, entries: 384 },
  });
});

Deno.test("fillWriteSqe lays out IORING_OP_WRITE: fd, offset, address, length, link, drain and async flags, tag", () => {
  const sqes = new DataView(new Uint8Array(128).fill(0xff).buffer);
  fillWriteSqe(sqes, 64, {
    fd: 7,
    addr: 0x1000n,
    len: 32768,
    offset: 1 << 20,
    linked: true,
    drain: false,
    tag: 3,
  });
  assert.equal(sqes.getUint8(64), 23);
  assert.equal(sqes.getUint8(65), 4 | 16);
  assert.equal(sqes.getInt32(68, true), 7);
  assert.equal(sqes.getBigUint64(72, true), 1n << 20n);
  assert.equal(sqes.getBigUint64(80, true), 0x1000n);
  assert.equal(sqes.getUint32(88, true), 32768);
  assert.equal(sqes.getBigUint64(96, true), 3n);
  assert.equal(sqes.getUint16(104, true), 0); // the rest is cleared
  assert.equal(sqes.getUint8(0), 0xff); // the entry before is untouched
  fillWriteSqe(sqes, 0, {
    fd: 7,
    addr: 0n,
    len: 1,
    offset: 0,
    linked: false,
    drain: false,
    tag: 0,
  });
  assert.equal(sqes.getUint8(1), 16);
  fillWriteSqe(sqes, 0, { fd: 7, addr: 0n, len: 1, offset: 0, linked: true, drain: true, tag: 0 });
  assert.equal(sqes.getUint8(1), 2 | 4 | 16);
});

Deno.test("writtenPrefix: the bytes in order before the first short or failed piece", () => {
  assert.equal(writtenPrefix([4, 4, 2], [4, 4, 2]), 10);
  assert.equal(writtenPrefix([4, 4, 2], [4, 3, 2]), 7);
  assert.equal(writtenPrefix([4, 4, 2], [4, -28, -125]), 4);
  assert.equal(writtenPrefix([4, 4, 2], [-9, -125, -125]), 0);
  assert.equal(writtenPrefix([4, 4], [4]), 4); // a piece never reported counts as unwritten
});

Deno.test({
  ...skippable(
    "WriteRing writes a chain of pieces (the last one short) at an offset, in order",
    noRing ? "io_uring cannot be set up here" : undefined,
  ),
  fn: () =>
    withTempDir((dir) => {
      const path = `${dir}/f`;
      Deno.writeFileSync(path, new Uint8Array(5).fill(9));
      const data = random((1 << 20) + 5);
      const fd = openWriteNoFollow(path)!;
      const ring = WriteRing.open(Math.ceil(data.length / 32768), 32768)!;
      try {
        assert.equal(ring.finish(ring.start(fd, data, 5)), data.length);
        // Reused; a view at an offset.
        assert.equal(ring.finish(ring.start(fd, data.subarray(7, 10), 5 + data.length)), 3);
        assert.equal(ring.finish(12345), 0); // no such chain
      } finally {
        ring.close();
        closeFd(fd);
      }
      const got = Deno.readFileSync(path);
      assert.equal(got.length, 5 + data.length + 3);
      assert.deepEqual(got.subarray(0, 5), new Uint8Array(5).fill(9));
      assert.deepEqual(got.subarray(5, 5 + data.length), data);
      assert.deepEqual(got.subarray(5 + data.length), data.subarray(7, 10));
    }),
});

Deno.test({
  ...skippable(
    "WriteRing counts nothing written when the first piece fails (/dev/full)",
    noRing ? "io_uring cannot be set up here" : undefined,
  ),
  fn: () => {
    const ring = WriteRing.open(4, 4096)!;
    const full = openWriteNoFollow("/dev/full")!;
    try {
      assert.equal(ring.finish(ring.start(full, random(16384), 0)), 0);
      // The ring is still usable after a failed chain.
      assert.equal(ring.finish(ring.start(full, random(8192), 0)), 0);
    } finally {
      ring.close();
      closeFd(full);
    }
  },
});

Deno.test({
  ...skippable(
    "WriteRing: chains in flight together run one after the other, in the order started",
    noRing ? "io_uring cannot be set up here" : undefined,
  ),
  fn: () =>
    withTempDir((dir) => {
      // Chain i writes 8 pieces of byte i + 1 from piece i on: where chains overlap, a piece
      // holds the last chain's byte only if each chain ran after the one before had ended.
      // Run 10 times: without the ordering, chains interleave in about one run of three.
      const piece = 32 << 10;
      const blocks = Array.from({ length: 8 }, (_, i) => new Uint8Array(8 * piece).fill(i + 1));
      const want = Array.from({ length: 15 }, (_, p) => Math.min(p, 7) + 1);
      const ring = WriteRing.open(64, piece)!;
      try {
        for (let round = 0; round < 10; round++) {
          const path = `${dir}/f${round}`;
          Deno.writeFileSync(path, new Uint8Array(0));
          const fd = openWriteNoFollow(path)!;
          try {
            const ids = blocks.map((b, i) => ring.start(fd, b, i * piece));
            assert.throws(() => ring.start(fd, blocks[0]!, 0), /no room for 8 more writes/);
            for (const id of ids.reverse()) assert.equal(ring.finish(id), 8 * piece); // any order
          } finally {
            closeFd(fd);
          }
          const got = Deno.readFileSync(path);
          assert.equal(got.length, 15 * piece);
          const bytes = want.map((_, p) => got[p * piece]);
          assert.deepEqual(bytes, want, `round ${round}`);
          assert.ok(got.every((b, i) => b === bytes[Math.floor(i / piece)]));
        }
      } finally {
        ring.close();
      }
    }),
});
