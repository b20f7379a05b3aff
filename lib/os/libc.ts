/**
 * The few libc calls Deno has no API for, through FFI (needs `--allow-ffi`):
 * opening a FIFO without blocking (runit's `supervise/ok` and
 * `supervise/control`), execve(2), and access(2) and open/read of small files
 * (lookups that fail without the cost of a thrown error, for the many files of
 * a listing), and the safe opens Deno's API cannot ask for: O_CREAT|O_EXCL|
 * O_NOFOLLOW for a new file with an exact mode (fchmod, whatever the umask),
 * O_NOFOLLOW for a read; and io_uring's system calls (lib/os/uring.ts). libc
 * is opened on first use only.
 * (node:fs could open with O_NONBLOCK too, but loading it costs ~25 ms at
 * every start of `vm`, which runit's `run` would pay on each VM start.)
 * @module
 */

import { SystemError } from "../errors.ts";
import { encodeRaw } from "../text/raw_text.ts";
import { concatBytes } from "../text/bytes.ts";

const O_WRONLY = 0o1;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const O_CREAT = 0o100;
const O_EXCL = 0o200;
/** O_NOFOLLOW differs between Linux's x86 and arm ABIs. */
const O_NOFOLLOW = Deno.build.arch === "aarch64" ? 0o100000 : 0o400000;

/**
 * libc's symbols in groups, each opened on its first use: binding a symbol
 * costs ~0.4 ms, and `vm list` or `vm __run` need only a few.
 */
const GROUPS = {
  /** Lookups and small reads: what listing many VMs calls. */
  files: {
    open: { parameters: ["buffer", "i32"], result: "i32" },
    read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    close: { parameters: ["i32"], result: "i32" },
    access: { parameters: ["buffer", "i32"], result: "i32" },
    // fstatat(2) through syscall(2): glibc before 2.33 exports no stat symbol.
    syscall: { parameters: ["i64", "i64", "buffer", "buffer", "i64"], result: "i64" },
    // getdents64(2), which glibc before 2.30 does not export.
    getdents: { name: "syscall", parameters: ["i64", "i64", "buffer", "i64"], result: "i64" },
  },
  /** Why the last call failed. */
  errno: {
    __errno_location: { parameters: [], result: "pointer" },
    strerror: { parameters: ["i32"], result: "pointer" },
  },
  /** Creating and writing files. */
  write: {
    // open(2) with its third (variadic) argument, the mode of a created file.
    openMode: { name: "open", parameters: ["buffer", "i32", "u32"], result: "i32" },
    fchmod: { parameters: ["i32", "u32"], result: "i32" },
    fsync: { parameters: ["i32"], result: "i32" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  },
  /** io_uring (lib/os/uring.ts): setup and enter through syscall(2), glibc has no wrapper. */
  ring: {
    setup: { name: "syscall", parameters: ["i64", "i64", "buffer"], result: "i64" },
    enter: {
      name: "syscall",
      parameters: ["i64", "i64", "i64", "i64", "i64", "pointer", "i64"],
      result: "i64",
    },
    mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
    munmap: { parameters: ["pointer", "usize"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
  },
  /** Canonical paths. */
  paths: {
    realpath: { parameters: ["buffer", "buffer"], result: "pointer" },
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
 * before any other, so that no dlopen runs between a failed call and the
 * reading of its errno.
 */
export function libc<G extends LibcGroup>(group: G): Symbols<G> {
  const have = opened[group];
  if (have !== undefined) return have as Symbols<G>;
  if (group !== "errno") libc("errno");
  const symbols = Deno.dlopen("libc.so.6", GROUPS[group]).symbols;
  opened[group] = symbols;
  return symbols;
}

const encoder = new TextEncoder();

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

/** A reused buffer for the paths of the calls that run many times (listing 1000 VMs). */
const pathBuf = new Uint8Array(4097);

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

const O_RDONLY = 0;
/** Up to this many bytes of a small file are read by readSmallFile. */
const SMALL = 256;
const smallBuf = new Uint8Array(SMALL);

const ENOENT = 2;
const ENOTDIR = 20;
/** errno of O_EXCL finding the file there. */
export const EEXIST = 17;
/** errno of O_NOFOLLOW finding a symlink. */
export const ELOOP = 40;

/**
 * The first bytes (at most 256) of the file at `path`, or undefined when it
 * does not exist. For the small files read for every VM a listing shows
 * (`wait`, `supervise/status`): a missing file costs no thrown error, and
 * nothing is allocated but the result. Throws SystemError when the file
 * exists but cannot be read.
 */
export function readSmallFile(path: string, noFollow = false): Uint8Array | undefined {
  const c = libc("files");
  const fd = c.open(cPath(path), O_RDONLY | O_CLOEXEC | (noFollow ? O_NOFOLLOW : 0));
  if (fd < 0) {
    const { errno, message } = lastError();
    if (errno === ENOENT || errno === ENOTDIR) return undefined;
    if (errno === ELOOP && noFollow) throw new SymlinkError(path);
    throw new SystemError(`Cannot read "${path}": ${message}`);
  }
  try {
    const n = Number(c.read(fd, smallBuf, BigInt(SMALL)));
    if (n < 0) throw new SystemError(`Cannot read "${path}": ${lastError().message}`);
    return smallBuf.slice(0, n);
  } finally {
    c.close(fd);
  }
}

/** The current errno and its text. */
export function lastError(): { errno: number; message: string } {
  const c = libc("errno");
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
  const fd = libc("files").open(cPath(path), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  return fd < 0 ? undefined : fd;
}

/**
 * Opens the existing file `path` for writing, not through a symlink
 * (O_WRONLY|O_NOFOLLOW); the fd, or undefined when it cannot be opened.
 */
export function openWriteNoFollow(path: string): number | undefined {
  const fd = libc("files").open(cPath(path), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  return fd < 0 ? undefined : fd;
}

/** Whether `path` exists (access(2) F_OK; a dangling symlink does not). */
export function pathExists(path: string): boolean {
  return libc("files").access(cPath(path), 0) === 0;
}

/** Writes `data` to `fd`; returns whether all of it was written. */
export function writeFd(fd: number, data: string): boolean {
  const bytes = encoder.encode(data);
  return Number(libc("write").write(fd, bytes, BigInt(bytes.length))) === bytes.length;
}

/** Closes `fd`. */
export function closeFd(fd: number): void {
  libc("files").close(fd);
}

/** A path vm will not follow is a symbolic link (O_NOFOLLOW said ELOOP). */
export class SymlinkError extends SystemError {
  /** The path that is a symlink. */
  readonly path: string;
  constructor(path: string) {
    super(`"${path}" is a symbolic link; vm does not follow it here: replace it with a file`);
    this.path = path;
  }
}

/**
 * Reads the whole file at `path` without following a final symlink
 * (O_NOFOLLOW); undefined when it does not exist. Throws SymlinkError for a
 * symlink, SystemError when it cannot be read.
 */
export function readFileNoFollow(path: string): Uint8Array | undefined {
  const c = libc("files");
  const fd = c.open(cString(path), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    const { errno, message } = lastError();
    if (errno === ENOENT || errno === ENOTDIR) return undefined;
    if (errno === ELOOP) throw new SymlinkError(path);
    throw new SystemError(`Cannot read "${path}": ${message}`);
  }
  try {
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const buf = new Uint8Array(65536);
      const n = Number(c.read(fd, buf, BigInt(buf.length)));
      if (n < 0) throw new SystemError(`Cannot read "${path}": ${lastError().message}`);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
    }
    return concatBytes(chunks);
  } finally {
    c.close(fd);
  }
}

/**
 * Creates `path` for writing with O_CREAT|O_EXCL|O_NOFOLLOW (never an
 * existing file, never through a symlink) and sets its mode to exactly
 * `mode` (fchmod: whatever the umask). Returns the fd, or the errno when
 * open fails (EEXIST: something is there).
 */
export function createExclusive(path: string, mode: number): { fd: number } | { errno: number } {
  const c = libc("write");
  const fd = c.openMode(cString(path), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return { errno: lastError().errno };
  if (c.fchmod(fd, mode) !== 0) {
    const { message } = lastError();
    closeFd(fd);
    throw new SystemError(`Cannot set the mode of "${path}": ${message}`);
  }
  return { fd };
}

/** Writes all of `bytes` to `fd` and flushes it to disk; throws SystemError naming `path`. */
export function writeAllFd(fd: number, bytes: Uint8Array, path: string): void {
  const c = libc("write");
  let at = 0;
  while (at < bytes.length) {
    const rest = at === 0 ? bytes : bytes.slice(at);
    const n = Number(c.write(fd, rest, BigInt(rest.length)));
    if (n < 0) throw new SystemError(`Cannot write "${path}": ${lastError().message}`);
    at += n;
  }
  if (c.fsync(fd) !== 0) throw new SystemError(`Cannot write "${path}": ${lastError().message}`);
}

const ARM = Deno.build.arch === "aarch64";
/** fstatat's number, and where fields lie in the kernel's struct stat. */
const SYS_NEWFSTATAT = ARM ? 79n : 262n;
const ST_MODE = ARM ? 16 : 24;
const ST_UID = ARM ? 24 : 28;
const AT_FDCWD = -100n;
const AT_SYMLINK_NOFOLLOW = 0x100n;
const statBuf = new Uint8Array(256);
const statView = new DataView(statBuf.buffer);

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

/**
 * The mode (type and permission bits), owner and identity of `path`,
 * following a final symlink unless `follow` is false; undefined when it
 * cannot be looked up (missing, no access). One system call and no thrown
 * error: for the many files a listing checks.
 */
export function fileMode(path: string, follow = true): FileMode | undefined {
  const flags = follow ? 0n : AT_SYMLINK_NOFOLLOW;
  const r = libc("files").syscall(SYS_NEWFSTATAT, AT_FDCWD, cPath(path), statBuf, flags);
  if (Number(r) !== 0) return undefined;
  return {
    mode: statView.getUint32(ST_MODE, true),
    uid: statView.getUint32(ST_UID, true),
    id: `${statView.getBigUint64(0, true)}:${statView.getBigUint64(8, true)}`,
  };
}

const realBuf = new Uint8Array(4097);

/** The canonical path of `path` (realpath(3)), or undefined when it cannot be resolved. */
export function realPathOf(path: string): string | undefined {
  const p = libc("paths").realpath(cPath(path), realBuf);
  if (p === null) return undefined;
  const end = realBuf.indexOf(0);
  return new TextDecoder().decode(realBuf.subarray(0, end < 0 ? realBuf.length : end));
}

/** The type of a directory entry, as getdents64 tells it without a lookup. */
export type EntryType = "file" | "dir" | "symlink" | "other";

const SYS_GETDENTS64 = ARM ? 61n : 217n;
const O_DIRECTORY = ARM ? 0o40000 : 0o200000;
/** getdents64's d_type values: DT_DIR, DT_REG, DT_LNK (DT_UNKNOWN is 0). */
const DT_TYPES: Record<number, EntryType> = { 4: "dir", 8: "file", 10: "symlink" };
const DT_UNKNOWN = 0;
const direntBuf = new Uint8Array(32768);
const direntView = new DataView(direntBuf.buffer);
const nameDecoder = new TextDecoder();

/** The entry type of a file of `mode` (st_mode). Pure. */
export function entryType(mode: number): EntryType {
  const m = mode & S_IFMT;
  return m === S_IFREG ? "file" : m === S_IFDIR ? "dir" : m === S_IFLNK ? "symlink" : "other";
}

/** The type of `path` by lstat, for a file system that gives no types in getdents. */
function lstatType(path: string): EntryType {
  return entryType(fileMode(path, false)?.mode ?? 0);
}

/**
 * The entries of directory `path` (but `.` and `..`) with their types, or
 * undefined when it cannot be opened (missing, not a directory, no access).
 * open, getdents64 until it is done, close: three system calls for a small
 * directory, where Deno.readDirSync costs several times as much, for `vm list`
 * reading every VM directory.
 */
export function dirEntries(path: string): Map<string, EntryType> | undefined {
  const c = libc("files");
  const fd = c.open(cPath(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return undefined;
  const out = new Map<string, EntryType>();
  try {
    for (;;) {
      const n = Number(c.getdents(SYS_GETDENTS64, BigInt(fd), direntBuf, BigInt(direntBuf.length)));
      if (n < 0) throw new SystemError(`Cannot read "${path}": ${lastError().message}`);
      if (n === 0) return out;
      for (let at = 0; at < n;) {
        const len = direntView.getUint16(at + 16, true);
        const type = direntBuf[at + 18] ?? DT_UNKNOWN;
        const end = direntBuf.indexOf(0, at + 19);
        const name = nameDecoder.decode(direntBuf.subarray(at + 19, end));
        at += len;
        if (name === "." || name === "..") continue;
        out.set(
          name,
          type === DT_UNKNOWN ? lstatType(`${path}/${name}`) : DT_TYPES[type] ?? "other",
        );
      }
    }
  } finally {
    c.close(fd);
  }
}
