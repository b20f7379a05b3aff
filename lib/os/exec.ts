/**
 * Replacing this process with another program (execve(2) through Deno FFI on
 * libc), so that the PID runsv supervises becomes QEMU's and no Deno process
 * stays resident. Needs `--allow-ffi`.
 * @module
 */

import { SystemError } from "../errors.ts";
import { cString, lastError, libc } from "./libc.ts";

const SIG_SETMASK = 2;
const SIGPIPE = 13;

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
 * Replaces this process with `path`, run in directory `cwd` with `argv`
 * (argv[0] included) and exactly the environment `env`. Signal mask and SIGPIPE (ignored by Deno)
 * are reset to the defaults first. Returns only on failure, by throwing
 * SystemError with the errno's meaning.
 */
export function execve(
  path: string,
  argv: readonly string[],
  env: Record<string, string>,
  cwd: string,
): never {
  const c = libc();
  if (c.chdir(cString(cwd)) !== 0) {
    throw new SystemError(`Cannot change to directory "${cwd}": ${lastError().message}`);
  }
  const a = cStringArray(argv);
  const e = cStringArray(Object.entries(env).map(([k, v]) => `${k}=${v}`));
  c.sigprocmask(SIG_SETMASK, new Uint8Array(128), null);
  c.signal(SIGPIPE, null);
  c.execve(cString(path), new Uint8Array(a.ptrs.buffer), new Uint8Array(e.ptrs.buffer));
  // Still here: it failed.
  const { message } = lastError();
  void a.keep;
  void e.keep;
  throw new SystemError(`Cannot execute "${path}": ${message}`);
}
