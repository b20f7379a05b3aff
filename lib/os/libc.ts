/**
 * The only use of FFI in vm (needs `--allow-ffi`): the ten libc calls Deno
 * and its `node:` modules have no API for, or none cheap enough for a
 * command that starts many times.
 * - execve(2), and before it sigprocmask(2) and signal(2) to hand QEMU the
 *   default signal mask and SIGPIPE disposition (Deno ignores SIGPIPE, and
 *   an ignored signal stays ignored across exec), and chdir(2) into the VM
 *   directory: `vm __run` becomes QEMU, keeping the PID runsv supervises
 *   (lib/os/exec.ts). Deno has no exec; the chdir is part of it, done the
 *   moment before, like a spawn's cwd (vm's own code never changes its
 *   working directory: tests/unit/code_shape_test.ts checks it).
 * - kill(2) with signal 0: whether a process group still has a member
 *   (lib/os/process_group.ts). Deno.kill takes only named signals.
 * - open(2) with O_WRONLY|O_NONBLOCK, write(2), close(2): runit's FIFOs
 *   `supervise/ok` and `supervise/control`, opened as `sv` opens them
 *   (lib/runit/). Deno.open has no O_NONBLOCK, and a blocking open of a
 *   FIFO without reader waits forever. node:fs can ask for it, but loading
 *   it costs ~21 ms (measured with Deno 2.9: 21-28 ms against ~1 ms for
 *   binding these symbols), which `vm list` and every start would pay.
 * - __errno_location(3) and strerror(3): why one of these failed.
 * Symbols are bound in small groups, each on its first use.
 * @module
 */

import { encodeRaw } from "../text/raw_text.ts";

const O_WRONLY = 0o1;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;

/** libc's symbols in groups, each opened on its first use. */
const GROUPS = {
  /** runit's FIFOs. */
  fifo: {
    open: { parameters: ["buffer", "i32"], result: "i32" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    close: { parameters: ["i32"], result: "i32" },
  },
  /** Why the last call failed. */
  errno: {
    __errno_location: { parameters: [], result: "pointer" },
    strerror: { parameters: ["i32"], result: "pointer" },
  },
  /** Signals and exec. */
  process: {
    kill: { parameters: ["i32", "i32"], result: "i32" },
    execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
    chdir: { parameters: ["buffer"], result: "i32" },
    sigprocmask: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
    signal: { parameters: ["i32", "pointer"], result: "pointer" },
  },
} as const;

/** A group of libc symbols (see GROUPS). */
export type LibcGroup = keyof typeof GROUPS;
type Symbols<G extends LibcGroup> = Deno.DynamicLibrary<(typeof GROUPS)[G]>["symbols"];

const opened: Partial<Record<LibcGroup, unknown>> = {};

/**
 * The libc symbols of `group` (opened once). The errno group is opened
 * before the process group, whose failures are explained by errno, so that
 * no dlopen runs between a failed call and the reading of its errno.
 */
export function libc<G extends LibcGroup>(group: G): Symbols<G> {
  const have = opened[group];
  if (have !== undefined) return have as Symbols<G>;
  if (group === "process") libc("errno");
  const symbols = Deno.dlopen("libc.so.6", GROUPS[group]).symbols;
  opened[group] = symbols;
  return symbols;
}

/**
 * `s` as a NUL-terminated C string; bytes kept as U+DC80…U+DCFF by
 * lib/text/raw_text.ts are written back as those bytes.
 */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  const bytes = encodeRaw(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** The current errno and its text. */
export function lastError(): { errno: number; message: string } {
  const c = libc("errno");
  const p = c.__errno_location();
  const errno = p ? new Deno.UnsafePointerView(p).getInt32() : 0;
  const m = c.strerror(errno);
  return { errno, message: m ? Deno.UnsafePointerView.getCString(m) : `errno ${errno}` };
}

/** A buffer reused for the path of openWriteNonblock, which `vm list` calls for every VM. */
const pathBuf = new Uint8Array(4097);
const encoder = new TextEncoder();

/**
 * `s` as a NUL-terminated C string in a buffer shared by all callers: valid
 * until the next call, which is enough for a synchronous libc call.
 */
function cPath(s: string): Uint8Array {
  const { written, read } = encoder.encodeInto(s, pathBuf.subarray(0, 4096));
  if (read !== s.length) return cString(s); // longer than PATH_MAX: a fresh buffer
  pathBuf[written] = 0;
  return pathBuf;
}

/**
 * Opens `path` for writing without blocking (O_WRONLY|O_NONBLOCK): for a FIFO
 * this succeeds only while a reader has it open. Returns the fd, or undefined
 * (with errno ENXIO for a FIFO without reader, ENOENT when missing…).
 */
export function openWriteNonblock(path: string): number | undefined {
  const fd = libc("fifo").open(cPath(path), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  return fd < 0 ? undefined : fd;
}

/** Writes `data` to `fd`; returns whether all of it was written. */
export function writeFd(fd: number, data: string): boolean {
  const bytes = encoder.encode(data);
  return Number(libc("fifo").write(fd, bytes, BigInt(bytes.length))) === bytes.length;
}

/** Closes `fd`. */
export function closeFd(fd: number): void {
  libc("fifo").close(fd);
}
