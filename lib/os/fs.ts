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
    removeIfExists(tmp);
    throw e;
  }
}

/** Whether `path` exists (without following a final symlink). */
export function exists(path: string): boolean {
  return lstatIfExists(path) !== undefined;
}

/** Reads a text file, or returns undefined when it does not exist. */
export function readTextIfExists(path: string): string | undefined {
  return unlessMissing(() => Deno.readTextFileSync(path));
}

/** The canonical path of `path`, or undefined when it cannot be resolved (missing, no access). */
export function realPathOrUndefined(path: string): string | undefined {
  try {
    return Deno.realPathSync(path);
  } catch (e) {
    if (
      e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory ||
      e instanceof Deno.errors.PermissionDenied
    ) return undefined;
    throw e;
  }
}

/** Removes `path`; a missing file is fine (the result is the same). */
export function removeIfExists(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** Removes the directory tree `path`; a missing one is fine. */
export function removeTree(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** Whether `e` says a path is not there (ENOENT, or ENOTDIR on the way). */
export function isMissing(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory;
}

/** What `look` returns, or undefined when it throws that a path is missing (see isMissing). */
export function unlessMissing<T>(look: () => T): T | undefined {
  try {
    return look();
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}

/** `stat` of `path` (following symlinks), or undefined when it does not exist. */
export function statIfExists(path: string): Deno.FileInfo | undefined {
  return unlessMissing(() => Deno.statSync(path));
}

/** `lstat` of `path` (a symlink itself), or undefined when it does not exist. */
export function lstatIfExists(path: string): Deno.FileInfo | undefined {
  return unlessMissing(() => Deno.lstatSync(path));
}
