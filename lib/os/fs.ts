/**
 * Writing files atomically and privately: the data goes to `<path>.new`,
 * created exclusively (O_CREAT|O_EXCL: a planted symlink is refused, a stale
 * regular `.new` removed first) with the exact mode asked for, whatever the
 * umask; then it is renamed over `<path>`, so a reader sees the old or the
 * new file, never a partial one. Directories made with an exact mode too;
 * reads that refuse a symlink leading out of a directory; and the lookups
 * that take a missing file as an answer.
 * @module
 */

import { describe, SystemError } from "../errors.ts";
import { encodeRaw } from "../text/raw_text.ts";
import { readFileNoFollow, SymlinkError } from "./lookup.ts";
import { dirname } from "./path.ts";
import { writeAll } from "./io.ts";

/** Suffix of the temporary file an atomic write uses. */
export const NEW_SUFFIX = ".new";

/** Modes of what vm creates, whatever the umask: directories, files, scripts. */
export const MODE = { dir: 0o700, file: 0o600, script: 0o700 } as const;

/** Throws SystemError unless `st` (lstat of `path`) is a regular file: vm never writes through a symlink. */
function checkPlainFile(path: string, st: Deno.FileInfo | undefined): void {
  if (st?.isSymlink) {
    throw new SystemError(
      `"${path}" is a symbolic link (planted?); vm never writes through one: remove it`,
    );
  }
  if (st !== undefined && !st.isFile) {
    throw new SystemError(`"${path}" is in the way and is not a file; remove it`);
  }
}

/**
 * Creates the file `path` with exactly `mode` and opens it with `options`;
 * O_CREAT|O_EXCL: never an existing file, never through a symlink. The
 * umask is set aside for the call (vm creates files on its main thread
 * only: nothing else is created meanwhile). Returns undefined when
 * something is there already; throws SystemError when it cannot be created.
 */
export function createExclusive(
  path: string,
  mode: number,
  options: Deno.OpenOptions = { write: true },
): Deno.FsFile | undefined {
  const umask = Deno.umask(0);
  try {
    return Deno.openSync(path, { ...options, createNew: true, mode });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return undefined;
    throw new SystemError(`Cannot create "${path}": ${describe(e)}; check "${dirname(path)}"`);
  } finally {
    Deno.umask(umask);
  }
}

/** Creates `tmp` exclusively with `mode`, removing a stale regular file first; refuses a symlink. */
function createNew(tmp: string, mode: number): Deno.FsFile {
  for (let attempt = 0; attempt < 3; attempt++) {
    const file = createExclusive(tmp, mode);
    if (file !== undefined) return file;
    checkPlainFile(tmp, lstatIfExists(tmp));
    removeIfExists(tmp); // a stale regular file of an interrupted write
  }
  throw new SystemError(`"${tmp}" keeps being made by another writer; try again`);
}

/**
 * Opens the regular file `path` for reading and writing, created with
 * exactly `mode` when missing; never through a symlink (a planted one is
 * refused) nor anything that is not a regular file. Throws SystemError.
 * Creates `path` when missing.
 */
export function openPlainFile(path: string, mode: number = MODE.file): Deno.FsFile {
  const rw = { read: true, write: true };
  for (let attempt = 0; attempt < 3; attempt++) {
    const made = createExclusive(path, mode, rw);
    if (made !== undefined) return made;
    const st = lstatIfExists(path);
    checkPlainFile(path, st);
    if (st === undefined) continue; // gone meanwhile: create it
    const file = Deno.openSync(path, rw);
    const now = file.statSync();
    if (now.ino === st.ino && now.dev === st.dev) return file;
    file.close(); // replaced between the look and the open: look again
  }
  throw new SystemError(`"${path}" keeps being replaced; try again`);
}

/** Writes all of `bytes` to `file` and flushes it to disk; throws SystemError naming `path`. */
function writeAllSync(file: Deno.FsFile, bytes: Uint8Array, path: string): void {
  try {
    for (let at = 0; at < bytes.length;) at += file.writeSync(bytes.subarray(at));
    file.syncSync();
  } catch (e) {
    throw new SystemError(`Cannot write "${path}": ${describe(e)}`);
  }
}

/**
 * Writes `data` to `path` atomically (`<path>.new`, created exclusively with
 * exactly `mode`, then renamed over `path`, which is replaced even when it is
 * a symlink: never followed). Strings are written as lib/text/raw_text.ts
 * encodes them. Writes `path`.
 */
export function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode: number = MODE.file,
): void {
  const tmp = path + NEW_SUFFIX;
  const file = createNew(tmp, mode);
  try {
    try {
      writeAllSync(file, typeof data === "string" ? encodeRaw(data) : data, tmp);
    } finally {
      file.close();
    }
    Deno.renameSync(tmp, path);
  } catch (e) {
    removeIfExists(tmp);
    throw e;
  }
}

/** A file being written the way writeFileAtomic writes: streamed into `tmp`, then renamed. */
export interface AtomicFile {
  /** The temporary file (`<path>.new`). */
  readonly tmp: string;
  /** Writes to `tmp`; closing it leaves the file open for commit. */
  readonly writable: WritableStream<Uint8Array>;
  /** Flushes `tmp` to disk, closes it and renames it over the path. */
  commit(): void;
  /** Closes and removes `tmp`: nothing is left of the write. */
  abort(): void;
}

/**
 * Opens `<path>.new` for data too large to hold at once, with writeFileAtomic's
 * guarantees: created exclusively with exactly `mode` (a symlink there is
 * refused, a stale regular file replaced), never a file someone else made;
 * `commit()` puts it in place. Writes `<path>.new`, then `path`.
 */
export function openAtomic(path: string, mode: number = MODE.file): AtomicFile {
  const tmp = path + NEW_SUFFIX;
  const file = createNew(tmp, mode);
  let open = true;
  const close = () => {
    if (open) file.close();
    open = false;
  };
  return {
    tmp,
    writable: new WritableStream({ write: (chunk) => writeAll(file, chunk) }),
    commit() {
      try {
        file.syncDataSync();
      } finally {
        close();
      }
      Deno.renameSync(tmp, path);
    },
    abort() {
      close();
      removeIfExists(tmp);
    },
  };
}

/**
 * Creates directory `path` with exactly `mode` (chmod after mkdir: the umask
 * does not count), and, with `parents`, every missing directory above it
 * with the same mode (those already there are left as they are). An
 * existing `path` is fine when it is a directory; its mode is not changed.
 */
export function makeDir(path: string, mode: number = MODE.dir, parents = false): void {
  if (parents) {
    const up = dirname(path);
    if (up !== path && lstatIfExists(up) === undefined) makeDir(up, mode, true);
  }
  try {
    Deno.mkdirSync(path, { mode });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists && statIfExists(path)?.isDirectory) return;
    throw e;
  }
  Deno.chmodSync(path, mode);
}

/**
 * Makes the tree `root` private whatever modes its files came with (a
 * copy, an archive, qemu-img under the caller's umask): directories 0700,
 * files their owner's bits only, at least 0600; symlinks are not followed.
 */
export function makePrivate(root: string): void {
  const st = Deno.lstatSync(root);
  if (st.isSymlink) return;
  if (!st.isDirectory) {
    Deno.chmodSync(root, ((st.mode ?? 0) & 0o700) | MODE.file);
    return;
  }
  Deno.chmodSync(root, MODE.dir);
  for (const e of Deno.readDirSync(root)) makePrivate(`${root}/${e.name}`);
}

/** Whether `path` is `dir` or inside it (both canonical paths). Pure. */
export function isInsideDir(dir: string, path: string): boolean {
  return path === dir || path.startsWith(dir === "/" ? "/" : dir + "/");
}

/**
 * Throws LeavingLinkError when `path` is a symlink whose target lies outside
 * directory `root`; a file, a missing path, a dangling link or a link within
 * `root` are fine. Reads (lstat, realpath) `path`.
 */
export function checkInside(root: string, path: string): void {
  if (lstatIfExists(path)?.isSymlink !== true) return;
  const real = realPathOrUndefined(path);
  if (real === undefined) return; // dangling: nothing is read through it
  const realRoot = realPathOrUndefined(root);
  if (realRoot === undefined || !isInsideDir(realRoot, real)) {
    throw new LeavingLinkError(path, real);
  }
}

/**
 * The bytes of `path`, which must lie in directory `root`: a symlink is
 * followed only when its target is inside `root` too; undefined when it does
 * not exist. Throws LeavingLinkError (a SystemError) naming the link and
 * where it leads when it leaves `root`.
 */
export function readFileInside(root: string, path: string): Uint8Array | undefined {
  try {
    return readFileNoFollow(path);
  } catch (e) {
    if (!(e instanceof SymlinkError)) throw e;
  }
  checkInside(root, path);
  const real = realPathOrUndefined(path);
  return real === undefined ? undefined : readFileNoFollow(real);
}

/** A symlink whose target lies outside the directory it must stay in. */
export class LeavingLinkError extends SymlinkError {
  constructor(path: string, target: string) {
    super(path);
    this.message = `"${path}" is a symbolic link to "${target}", outside its VM's directory; ` +
      `vm does not follow it: replace it with a copy of the file`;
  }
}

/** Whether `path` exists (without following a final symlink). */
export function exists(path: string): boolean {
  return lstatIfExists(path) !== undefined;
}

/**
 * The text of `path` (a file a user named) when it holds at most `max`
 * bytes; undefined when it holds more. Only `max` + 1 bytes are ever read,
 * so a device such as /dev/zero is not read without end. Throws as Deno
 * does for a file that cannot be read (NotFound, IsADirectory…).
 */
export function readTextCapped(path: string, max: number): string | undefined {
  const f = Deno.openSync(path, { read: true });
  try {
    const buf = new Uint8Array(max + 1);
    let got = 0;
    for (let n = f.readSync(buf); n !== null && n > 0; n = f.readSync(buf.subarray(got))) {
      got += n;
      if (got === buf.length) return undefined;
    }
    return new TextDecoder().decode(buf.subarray(0, got));
  } finally {
    f.close();
  }
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
