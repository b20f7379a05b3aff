/**
 * Looking at files without taking a missing one for an error: the mode,
 * owner and identity of a path, the entries of a directory with their
 * types, whether a path leads somewhere; and reads that never follow a
 * final symlink (lstat, open, then fstat: the file opened must be the one
 * looked at). What `vm list` asks of every VM directory.
 * @module
 */

import { describe, SystemError } from "../errors.ts";
import { concatBytes } from "../text/bytes.ts";

/** File type bits of a mode (S_IFMT) and the types vm asks about. */
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

/** What fileMode tells of a file. */
export interface FileMode {
  /** Type and permission bits (st_mode). */
  mode: number;
  /** The owner's uid. */
  uid: number;
  /** Device and inode: the same for two paths of one file. */
  id: string;
}

/** The type of a directory entry. */
export type EntryType = "file" | "dir" | "symlink" | "other";

/** Whether `e` says a path cannot be looked up: missing, not a directory on the way, no access, a loop. */
function unreachable(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory ||
    e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.FilesystemLoop;
}

/**
 * The mode (type and permission bits), owner and identity of `path`,
 * following a final symlink unless `follow` is false; undefined when it
 * cannot be looked up (missing, no access).
 */
export function fileMode(path: string, follow = true): FileMode | undefined {
  let st: Deno.FileInfo;
  try {
    st = follow ? Deno.statSync(path) : Deno.lstatSync(path);
  } catch (e) {
    if (unreachable(e)) return undefined;
    throw e;
  }
  return { mode: st.mode ?? 0, uid: st.uid ?? 0, id: `${st.dev}:${st.ino}` };
}

/** Whether `path` leads to something (a final symlink followed: a dangling one does not). */
export function pathExists(path: string): boolean {
  return fileMode(path) !== undefined;
}

/** The entry type of a file of `mode` (st_mode). Pure. */
export function entryType(mode: number): EntryType {
  const m = mode & S_IFMT;
  return m === S_IFREG ? "file" : m === S_IFDIR ? "dir" : m === S_IFLNK ? "symlink" : "other";
}

/**
 * The entries of directory `path` (but `.` and `..`) with their types, or
 * undefined when it cannot be read (missing, not a directory, no access).
 */
export function dirEntries(path: string): Map<string, EntryType> | undefined {
  const out = new Map<string, EntryType>();
  try {
    for (const e of Deno.readDirSync(path)) {
      out.set(
        e.name,
        e.isFile ? "file" : e.isDirectory ? "dir" : e.isSymlink ? "symlink" : "other",
      );
    }
  } catch (e) {
    if (unreachable(e)) return undefined;
    throw e;
  }
  return out;
}

/**
 * Whether directory `dir` has an entry `name`: one read of the directory,
 * where a lookup of a missing file would cost a thrown error (`vm list`
 * asks this of every VM); false when `dir` cannot be read.
 */
export function hasEntry(dir: string, name: string): boolean {
  try {
    for (const e of Deno.readDirSync(dir)) if (e.name === name) return true;
  } catch (e) {
    if (!unreachable(e)) throw e;
  }
  return false;
}

/** A path vm will not follow is a symbolic link. */
export class SymlinkError extends SystemError {
  /** The path that is a symlink. */
  readonly path: string;
  constructor(path: string) {
    super(`"${path}" is a symbolic link; vm does not follow it here: replace it with a file`);
    this.path = path;
  }
}

/**
 * What `look` (a lookup or open of `path`) returns; undefined when `path`
 * does not exist. Throws SystemError naming `path` for other failures.
 */
function unlessGone<T>(path: string, look: () => T): T | undefined {
  try {
    return look();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw new SystemError(`Cannot read "${path}": ${describe(e)}`);
  }
}

/** `path` opened for reading; undefined when it does not exist. Throws SystemError. */
function openIfThere(path: string): Deno.FsFile | undefined {
  return unlessGone(path, () => Deno.openSync(path, { read: true }));
}

/**
 * `path` opened for reading when it is no symlink, checked to be the file
 * looked at (a symlink put there in between is refused too); undefined
 * when it does not exist. Throws SymlinkError, or SystemError when it cannot
 * be opened or keeps being replaced.
 */
function openNoFollow(path: string): Deno.FsFile | undefined {
  for (let attempt = 0; attempt < 3; attempt++) {
    const st = unlessGone(path, () => Deno.lstatSync(path));
    if (st === undefined) return undefined;
    if (st.isSymlink) throw new SymlinkError(path);
    const file = openIfThere(path);
    if (file === undefined) return undefined;
    const now = file.statSync();
    if (now.dev === st.dev && now.ino === st.ino) return file;
    file.close(); // replaced between the look and the open: look again
  }
  throw new SystemError(`"${path}" keeps being replaced; try again`);
}

/**
 * What `file` holds to its end, or with `max`, what one read of up to `max`
 * bytes gives; closes it. Throws SystemError naming `path`.
 */
function readAndClose(file: Deno.FsFile, path: string, max?: number): Uint8Array {
  try {
    if (max !== undefined) {
      const buf = new Uint8Array(max);
      return buf.subarray(0, file.readSync(buf) ?? 0);
    }
    const chunks: Uint8Array[] = [];
    for (;;) {
      const buf = new Uint8Array(65536);
      const n = file.readSync(buf) ?? 0;
      if (n === 0) return concatBytes(chunks);
      chunks.push(buf.subarray(0, n));
    }
  } catch (e) {
    throw new SystemError(`Cannot read "${path}": ${describe(e)}`);
  } finally {
    file.close();
  }
}

/**
 * Reads the whole file at `path` without following a final symlink;
 * undefined when it does not exist. Throws SymlinkError for a symlink,
 * SystemError when it cannot be read.
 */
export function readFileNoFollow(path: string): Uint8Array | undefined {
  const file = openNoFollow(path);
  return file === undefined ? undefined : readAndClose(file, path);
}

/** Up to this many bytes of a small file are read by readSmallFile. */
const SMALL = 256;

/**
 * The first bytes (at most 256) of the file at `path`, or undefined when it
 * does not exist; with `noFollow`, not through a final symlink (SymlinkError).
 * For the small files read for every VM a listing shows (`wait`,
 * `supervise/status`). Throws SystemError when it exists but cannot be read.
 */
export function readSmallFile(path: string, noFollow = false): Uint8Array | undefined {
  const file = noFollow ? openNoFollow(path) : openIfThere(path);
  return file === undefined ? undefined : readAndClose(file, path, SMALL);
}
