/**
 * The few libc calls Deno has no API for, through FFI (needs `--allow-ffi`):
 * opening a FIFO without blocking (runit's `supervise/ok` and
 * `supervise/control`), execve(2), and access(2) (a lookup that fails without
 * the cost of a thrown error, for many files). libc is opened on first use only.
 * (node:fs could open with O_NONBLOCK too, but loading it costs ~25 ms at
 * every start of `vm`, which runit's `run` would pay on each VM start.)
 * @module
 */

const O_WRONLY = 0o1;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;

const SYMBOLS = {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  access: { parameters: ["buffer", "i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  sigprocmask: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  signal: { parameters: ["i32", "pointer"], result: "pointer" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
} as const;

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

/** The libc symbols (opened once). */
export function libc(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  lib ??= Deno.dlopen("libc.so.6", SYMBOLS);
  return lib.symbols;
}

const encoder = new TextEncoder();

/** `s` as a NUL-terminated C string. */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  const bytes = encoder.encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** The current errno and its text. */
export function lastError(): { errno: number; message: string } {
  const c = libc();
  const p = c.__errno_location();
  const errno = p ? new Deno.UnsafePointerView(p).getInt32() : 0;
  const m = c.strerror(errno);
  return { errno, message: m ? Deno.UnsafePointerView.getCString(m) : `errno ${errno}` };
}

/**
 * Opens `path` for writing without blocking (O_WRONLY|O_NONBLOCK): for a FIFO
 * this succeeds only while a reader has it open. Returns the fd, or undefined
 * (with errno ENXIO for a FIFO without reader, ENOENT when missing…).
 */
export function openWriteNonblock(path: string): number | undefined {
  const fd = libc().open(cString(path), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  return fd < 0 ? undefined : fd;
}

/** Whether `path` exists (access(2) F_OK; a dangling symlink does not). */
export function pathExists(path: string): boolean {
  return libc().access(cString(path), 0) === 0;
}

/** Writes `data` to `fd`; returns whether all of it was written. */
export function writeFd(fd: number, data: string): boolean {
  const bytes = encoder.encode(data);
  return Number(libc().write(fd, bytes, BigInt(bytes.length))) === bytes.length;
}

/** Closes `fd`. */
export function closeFd(fd: number): void {
  libc().close(fd);
}
