/**
 * Writing files atomically: the data goes to `<path>.new`, which is then
 * renamed over `<path>`, so a reader sees the old or the new file, never a
 * partial one. Also the lookups that take a missing file as an answer.
 * @module
 */

/** Suffix of the temporary file an atomic write uses. */
export const NEW_SUFFIX = ".new";

/** Writes `data` to `path` atomically (`<path>.new`, then rename). Writes `path`. */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = path + NEW_SUFFIX;
  try {
    if (typeof data === "string") Deno.writeTextFileSync(tmp, data, { mode });
    else Deno.writeFileSync(tmp, data, { mode });
    Deno.chmodSync(tmp, mode);
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* already gone */ }
    throw e;
  }
}

/** Whether `path` exists (without following a final symlink). */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return false;
    throw e;
  }
}

/** Reads a text file, or returns undefined when it does not exist. */
export function readTextIfExists(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw e;
  }
}

/** The canonical path of `path`, or undefined when it cannot be resolved (missing, no access). */
export function realPathOrUndefined(path: string): string | undefined {
  try {
    return Deno.realPathSync(path);
  } catch {
    return undefined;
  }
}
