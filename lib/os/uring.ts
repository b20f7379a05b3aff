/**
 * Writing buffers into a file as chains of small writes that the kernel's
 * io_uring worker threads run one after the other, off the calling thread,
 * through FFI (needs `--allow-ffi`). Why small writes: ext4 on Linux 6.16 and
 * later caches a write in one folio as large as the write, and on a VM whose
 * host takes freed memory back (free page reporting) large folios cost up to
 * 3 times as much per byte as 16–32 KiB ones (bench/image_pull.ts). Why not
 * Deno's own writes: each is a hop to a thread and back (30–60 µs here), too
 * many at 32 KiB a piece. A chain is linked (IOSQE_IO_LINK), so its pieces
 * land in order, and several chains may be in flight: each starts once those
 * before it have ended (IOSQE_IO_DRAIN), so a process killed mid-chain
 * leaves a file that is a prefix of the data, never one with a hole.
 * Touches only the fd given.
 * @module
 */

import { lastError, libc } from "./libc.ts";

const SYS_IO_URING_SETUP = 425n;
const SYS_IO_URING_ENTER = 426n;
const IORING_OFF_SQES = 0x10000000n;
const IORING_FEAT_SINGLE_MMAP = 1;
const IORING_ENTER_GETEVENTS = 1n;
const IORING_OP_WRITE = 23;
/** Not started before every entry submitted earlier has completed. */
const IOSQE_IO_DRAIN = 1 << 1;
const IOSQE_IO_LINK = 1 << 2;
/** Straight to a worker thread: a buffered ext4 write would only try inline and be punted. */
const IOSQE_ASYNC = 1 << 4;
const SQE_SIZE = 64;
const CQE_SIZE = 16;
const PROT_READ_WRITE = 3;
const MAP_SHARED_POPULATE = 0x1 | 0x8000;
const EINTR = 4;

/** Offsets (in bytes) of the ring fields that io_uring_setup reports in its params. */
interface RingOffsets {
  head: number;
  tail: number;
  mask: number;
  /** SQ: the index array; CQ: the CQEs. */
  entries: number;
}

/** The fields of io_uring_params (120 bytes) this module uses. Pure. */
export function parseRingParams(params: Uint8Array): {
  sqEntries: number;
  cqEntries: number;
  features: number;
  sq: RingOffsets;
  cq: RingOffsets;
} {
  const v = new DataView(params.buffer, params.byteOffset, params.byteLength);
  const u32 = (at: number) => v.getUint32(at, true);
  // struct io_sqring_offsets at 40: head tail ring_mask ring_entries flags dropped array;
  // struct io_cqring_offsets at 80: head tail ring_mask ring_entries overflow cqes.
  return {
    sqEntries: u32(0),
    cqEntries: u32(4),
    features: u32(20),
    sq: { head: u32(40), tail: u32(44), mask: u32(48), entries: u32(64) },
    cq: { head: u32(80), tail: u32(84), mask: u32(88), entries: u32(100) },
  };
}

/**
 * Fills the 64-byte submission entry at `at` of `sqes`: write `len` bytes
 * from address `addr` to file offset `offset` of `fd`; linked to the next
 * entry, and after all earlier ones (`drain`), as asked. Pure.
 */
export function fillWriteSqe(
  sqes: DataView,
  at: number,
  e: {
    fd: number;
    addr: bigint;
    len: number;
    offset: number;
    linked: boolean;
    drain: boolean;
    tag: number;
  },
): void {
  for (let k = 0; k < SQE_SIZE; k += 8) sqes.setBigUint64(at + k, 0n, true);
  sqes.setUint8(at, IORING_OP_WRITE);
  const flags = IOSQE_ASYNC | (e.linked ? IOSQE_IO_LINK : 0) | (e.drain ? IOSQE_IO_DRAIN : 0);
  sqes.setUint8(at + 1, flags);
  sqes.setInt32(at + 4, e.fd, true);
  sqes.setBigUint64(at + 8, BigInt(e.offset), true);
  sqes.setBigUint64(at + 16, e.addr, true);
  sqes.setUint32(at + 24, e.len, true);
  sqes.setBigUint64(at + 32, BigInt(e.tag), true);
}

/**
 * How many bytes of a chain of writes landed, in order: the full pieces
 * before the first that was short or failed, plus what that one wrote.
 * `results[i]` is piece i's result (bytes, or -errno). Pure.
 */
export function writtenPrefix(pieceLens: number[], results: number[]): number {
  let done = 0;
  for (let i = 0; i < pieceLens.length; i++) {
    const r = results[i] ?? 0;
    if (r !== pieceLens[i]) return done + Math.max(r, 0);
    done += r;
  }
  return done;
}

/** A chain in flight: its pieces' lengths, their results as they come, how many are still out. */
interface Chain {
  lens: number[];
  results: number[];
  waiting: number;
}

/** Pieces per chain at most: a CQE's tag is chain id × this + piece index. */
const TAG_PIECES = 1 << 16;

/** An io_uring set up for chains of writes (see the module doc). */
export class WriteRing {
  #fd: number;
  #maps: { ptr: Deno.PointerObject; len: number }[];
  #sq: RingOffsets;
  #cq: RingOffsets;
  #ring: Uint32Array;
  #ringView: DataView;
  #sqes: DataView;
  /** The chains in flight, by id. */
  #chains = new Map<number, Chain>();
  #nextId = 0;
  /** Entries submitted and not completed, of all chains. */
  #waiting = 0;
  /** Bytes per write. */
  readonly piece: number;

  private constructor(
    fd: number,
    p: ReturnType<typeof parseRingParams>,
    maps: { ptr: Deno.PointerObject; len: number }[],
    piece: number,
  ) {
    this.#fd = fd;
    this.#sq = p.sq;
    this.#cq = p.cq;
    this.#maps = maps;
    const ring = Deno.UnsafePointerView.getArrayBuffer(maps[0]!.ptr, maps[0]!.len);
    this.#ring = new Uint32Array(ring);
    this.#ringView = new DataView(ring);
    this.#sqes = new DataView(Deno.UnsafePointerView.getArrayBuffer(maps[1]!.ptr, maps[1]!.len));
    this.piece = piece;
    for (let i = 0; i < p.sqEntries; i++) this.#ring[p.sq.entries / 4 + i] = i;
  }

  /**
   * A ring for up to `pieces` writes of `piece` bytes in flight (in one
   * chain or several), or undefined when this system has no usable io_uring
   * (an old kernel, io_uring_disabled, a seccomp filter…): the caller writes
   * another way.
   */
  static open(pieces: number, piece: number): WriteRing | undefined {
    const c = libc("ring");
    const params = new Uint8Array(120);
    const fd = Number(c.setup(SYS_IO_URING_SETUP, BigInt(pieces), params));
    if (fd < 0) return undefined;
    const p = parseRingParams(params);
    const maps: { ptr: Deno.PointerObject; len: number }[] = [];
    const map = (len: number, at: bigint) => {
      const ptr = c.mmap(null, BigInt(len), PROT_READ_WRITE, MAP_SHARED_POPULATE, fd, at);
      // MAP_FAILED is (void *)-1.
      if (ptr === null || Deno.UnsafePointer.value(ptr) === 0xffffffffffffffffn) return false;
      maps.push({ ptr, len });
      return true;
    };
    const ringLen = Math.max(p.sq.entries + p.sqEntries * 4, p.cq.entries + p.cqEntries * CQE_SIZE);
    if (
      p.sqEntries < pieces || (p.features & IORING_FEAT_SINGLE_MMAP) === 0 ||
      !map(ringLen, 0n) || !map(p.sqEntries * SQE_SIZE, IORING_OFF_SQES)
    ) {
      for (const m of maps) c.munmap(m.ptr, BigInt(m.len));
      c.close(fd);
      return undefined;
    }
    return new WriteRing(fd, p, maps, piece);
  }

  /**
   * Starts writing `data` at `offset` of `fd` as one chain of writes of
   * `piece` bytes, which begins once every chain started before it has
   * ended; returns the chain's id for `finish`. `data` must stay untouched
   * until then. Should the kernel take only part of the chain, `finish`
   * counts only what it took. Throws when the ring has no room for it (more
   * pieces in flight than it was opened for).
   */
  start(fd: number, data: Uint8Array, offset: number): number {
    const c = libc("ring");
    const count = Math.ceil(data.length / this.piece);
    const mask = this.#ring[this.#sq.mask / 4]!;
    if (this.#waiting + count > mask + 1 || count > TAG_PIECES) {
      throw new Error(`WriteRing.start: no room for ${count} more writes`);
    }
    const addr = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(data)));
    const id = this.#nextId++;
    const chain: Chain = { lens: [], results: [], waiting: 0 };
    let tail = Atomics.load(this.#ring, this.#sq.tail / 4);
    for (let i = 0; i < count; i++) {
      const at = i * this.piece;
      const len = Math.min(this.piece, data.length - at);
      chain.lens.push(len);
      chain.results.push(0);
      fillWriteSqe(this.#sqes, (tail & mask) * SQE_SIZE, {
        fd,
        addr: addr + BigInt(at),
        len,
        offset: offset + at,
        linked: i < count - 1,
        drain: i === 0 && this.#chains.size > 0,
        tag: id * TAG_PIECES + i,
      });
      tail = (tail + 1) >>> 0;
    }
    Atomics.store(this.#ring, this.#sq.tail / 4, tail);
    let queued: number;
    do queued = Number(
      c.enter(SYS_IO_URING_ENTER, BigInt(this.#fd), BigInt(count), 0n, 0n, null, 0n),
    ); while (queued < 0 && lastError().errno === EINTR);
    // What the kernel did not take stays in the ring: take it back (the chain ends at what was queued).
    if (queued < count) {
      Atomics.store(this.#ring, this.#sq.tail / 4, (tail - (count - Math.max(queued, 0))) >>> 0);
    }
    chain.waiting = Math.max(queued, 0);
    this.#waiting += chain.waiting;
    this.#chains.set(id, chain);
    return id;
  }

  /**
   * Waits for the chain `id` (blocking this thread; a chain is at most a few
   * MiB) and returns how many of its bytes were written, in order from its
   * start. Less than the whole chain means the rest must be written another
   * way, which also tells why it failed (disk full…). An unknown (finished)
   * id counts 0. Throws when the ring itself fails (never seen: a bad fd or
   * address).
   */
  finish(id: number): number {
    const chain = this.#chains.get(id);
    if (chain === undefined) return 0;
    while (chain.waiting > 0) {
      // Chains end in the order started: this one's last completion comes after all of theirs.
      let need = 0;
      for (const [k, c] of this.#chains) if (k <= id) need += c.waiting;
      this.#reap(need);
    }
    this.#chains.delete(id);
    return writtenPrefix(chain.lens, chain.results);
  }

  /** Records the completions there are; when none, waits for `need` of them first. */
  #reap(need: number): void {
    const c = libc("ring");
    let head = Atomics.load(this.#ring, this.#cq.head / 4);
    const tail = Atomics.load(this.#ring, this.#cq.tail / 4);
    if (head === tail) {
      const n = c.enter(
        SYS_IO_URING_ENTER,
        BigInt(this.#fd),
        0n,
        BigInt(need),
        IORING_ENTER_GETEVENTS,
        null,
        0n,
      );
      const e = n < 0n ? lastError() : undefined;
      if (e !== undefined && e.errno !== EINTR) {
        // Writes may still be running from the callers' buffers: the caller gives up on the
        // file (its error says so); close() then frees the ring, whose teardown waits for them.
        this.#chains.clear();
        this.#waiting = 0;
        throw new Error(`io_uring_enter failed with writes in flight: ${e.message}`);
      }
      return;
    }
    const mask = this.#ring[this.#cq.mask / 4]!;
    for (; head !== tail; head = (head + 1) >>> 0) {
      const at = this.#cq.entries + (head & mask) * CQE_SIZE;
      const tag = Number(this.#ringView.getBigUint64(at, true));
      const chain = this.#chains.get(Math.floor(tag / TAG_PIECES));
      if (chain !== undefined) {
        chain.results[tag % TAG_PIECES] = this.#ringView.getInt32(at + 8, true);
        chain.waiting--;
      }
      this.#waiting--;
    }
    Atomics.store(this.#ring, this.#cq.head / 4, head);
  }

  /** Waits for the chains in flight (but after a failed finish()), then frees the ring. */
  close(): void {
    for (const id of [...this.#chains.keys()]) this.finish(id);
    const c = libc("ring");
    for (const m of this.#maps) c.munmap(m.ptr, BigInt(m.len));
    this.#maps = [];
    c.close(this.#fd);
  }
}
