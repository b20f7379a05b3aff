/**
 * Replacing this process with another program (execve(2) through Deno FFI on
 * libc), so that the PID runsv supervises becomes QEMU's and no Deno process
 * stays resident. Needs `--allow-ffi`.
 * @module
 */

import { SystemError } from "./errors.ts";

const SIG_SETMASK = 2;
const SIGPIPE = 13;

const encoder = new TextEncoder();

function cString(s: string): Uint8Array<ArrayBuffer> {
  const bytes = encoder.encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** A NULL-terminated array of C strings; `keep` must stay referenced until the call. */
function cStringArray(
  strings: readonly string[],
): { ptrs: BigUint64Array<ArrayBuffer>; keep: Uint8Array[] } {
  const keep = strings.map(cString);
  const ptrs = new BigUint64Array(keep.length + 1);
  keep.forEach((b, i) => {
    ptrs[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)));
  });
  return { ptrs, keep };
}

/**
 * Replaces this process with `path`, run with `argv` (argv[0] included) and
 * exactly the environment `env`. Signal mask and SIGPIPE (ignored by Deno)
 * are reset to the defaults first. Returns only on failure, by throwing
 * SystemError with the errno's meaning.
 */
export function execve(path: string, argv: readonly string[], env: Record<string, string>): never {
  const libc = Deno.dlopen("libc.so.6", {
    execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
    sigprocmask: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
    signal: { parameters: ["i32", "pointer"], result: "pointer" },
    __errno_location: { parameters: [], result: "pointer" },
    strerror: { parameters: ["i32"], result: "pointer" },
  });
  const a = cStringArray(argv);
  const e = cStringArray(Object.entries(env).map(([k, v]) => `${k}=${v}`));
  libc.symbols.sigprocmask(SIG_SETMASK, new Uint8Array(128), null);
  libc.symbols.signal(SIGPIPE, null);
  libc.symbols.execve(
    cString(path),
    new Uint8Array(a.ptrs.buffer),
    new Uint8Array(e.ptrs.buffer),
  );
  // Still here: it failed.
  const errnoPtr = libc.symbols.__errno_location();
  const errno = errnoPtr ? new Deno.UnsafePointerView(errnoPtr).getInt32() : 0;
  const msgPtr = libc.symbols.strerror(errno);
  const msg = msgPtr ? Deno.UnsafePointerView.getCString(msgPtr) : `errno ${errno}`;
  void a.keep;
  void e.keep;
  throw new SystemError(`Cannot execute "${path}": ${msg}`);
}
