/**
 * Replacing this process with another program (execve(2) through FFI,
 * lib/os/libc.ts), so that the PID runsv supervises becomes QEMU's and no
 * Deno process stays resident. Needs `--allow-ffi`.
 * @module
 */

import { SystemError } from "../errors.ts";
import { join, resolve } from "./path.ts";
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
  const c = libc("process");
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

/** Whether `path` is an executable regular file (missing or unreadable: false). */
export function isExecutableFile(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    return st.isFile && ((st.mode ?? 0) & 0o111) !== 0;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return false;
    if (e instanceof Deno.errors.PermissionDenied) return false;
    throw e;
  }
}

/**
 * `program` found as the shell finds it: as given when it contains a `/`,
 * else in the directories of `pathVar` (a PATH value); relative paths are
 * relative to `cwd`. Returns the path as found (relative when the PATH entry
 * is), or undefined. Reads the file system.
 */
export function findExecutable(program: string, pathVar: string, cwd: string): string | undefined {
  if (program.includes("/")) return isExecutableFile(resolve(cwd, program)) ? program : undefined;
  for (const dir of pathVar.split(":")) {
    const path = join(dir || ".", program);
    if (isExecutableFile(resolve(cwd, path))) return path;
  }
  return undefined;
}
