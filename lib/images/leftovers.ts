/**
 * What an interrupted `vm make`, `destroy`, `clone`, `import libvirt`,
 * `import tar` (`.untar-…`, then `.import-…`), `export tar` or `image
 * import` (in `$VMDIR/.images`) leaves in `$VMDIR`: its dot-directory,
 * `.<op>-<vm>-<pid>` (runsvdir and `vm list` skip dot-names, so nothing
 * else shows it), often with whole disks. In the image cache, an image's
 * `.meta` (lib/images/meta.ts) whose image and `.part` are both gone is one
 * too, of the pull or import that wrote it (the PID it records). An operation that writes a file
 * outside `$VMDIR` (`vm export tar FILE` writes `FILE.new`) records it in
 * its directory (OUTSIDE_RECORD), so the file is found and removed with it.
 * The owning process's PID is in the name; a leftover whose owner still runs
 * (that PID, started before the directory last changed), or in which any
 * process works, is work in progress and is never touched. Reads `$VMDIR`,
 * the leftovers' trees and recorded files, `/proc/stat`,
 * `/proc/<pid>/{stat,cwd}`; removes leftovers.
 * @module
 */

import { dirname, join } from "../os/path.ts";
import {
  exists,
  isInsideDir,
  lstatIfExists,
  readTextIfExists,
  realPathOrUndefined,
  removeIfExists,
  writeFileAtomic,
} from "../os/fs.ts";
import { allPids, cwdOf, procStat } from "../os/proc.ts";
import { formatBytes } from "../text/units.ts";
import { BACKUPS_DIR, IMAGES_DIR } from "../layout.ts";
import { imagesDir, parseStoredName, PART_SUFFIX } from "./store.ts";
import { metaOwner, readMetaFile } from "./meta.ts";

/** The operations that work under a dot-name, and the command each is (for messages). */
export const LEFTOVER_OPS = {
  make: "make",
  destroy: "destroy",
  clone: "clone",
  import: "import",
  untar: "import tar",
  export: "export tar",
  "image-import": "image import",
  "net-rm": "net rm",
  net: "net create",
  pull: "image pull",
  backup: "backup",
  restore: "restore",
} as const;

/** An operation that leaves a dot-directory. */
export type LeftoverOp = keyof typeof LEFTOVER_OPS;

/** The file in a leftover's directory naming a file it writes outside `$VMDIR`. */
export const OUTSIDE_RECORD = "outside.json";

/** One leftover directory. */
export interface Leftover {
  /** Its name in `$VMDIR` (`.make-web-1234`). */
  name: string;
  path: string;
  op: LeftoverOp;
  /** The VM (or image) it was for. */
  vm: string;
  /** The PID of the `vm` that made it. */
  pid: number;
  /** Whether that process still runs (then it is work in progress). */
  running: boolean;
  /** Bytes it uses on disk (with the file outside). */
  bytes: number;
  /** The file it was writing outside `$VMDIR`, still there (see OUTSIDE_RECORD). */
  outside?: string;
}

/** The operations that work in a dot-directory (a pull leaves only a `.meta`). */
const DIR_OPS = Object.keys(LEFTOVER_OPS).filter((op) => op !== "pull");

const NAME = new RegExp(`^\\.(${DIR_OPS.join("|")})-(.+)-([0-9]+)$`);

/**
 * What OUTSIDE_RECORD holds: the file, and which one it is (a file put there
 * since is not ours; inode numbers are reused, so its birth time counts too).
 */
interface OutsideFile {
  path: string;
  dev: number;
  ino: number;
  /** Birth time, ms (where the file system tells it). */
  born?: number;
}

/**
 * Records in leftover directory `dir` that its operation writes the file
 * `path` (just created, outside `$VMDIR`). Writes `<dir>/outside.json`.
 */
export function recordOutside(dir: string, path: string): void {
  const st = Deno.lstatSync(path);
  const rec: OutsideFile = { path, dev: st.dev, ino: st.ino ?? 0 };
  if (st.birthtime !== null) rec.born = st.birthtime.getTime();
  writeFileAtomic(join(dir, OUTSIDE_RECORD), JSON.stringify(rec) + "\n");
}

/** The file leftover `dir` recorded, when it is still that very file; else undefined. */
function outsideFile(dir: string): { path: string; st: Deno.FileInfo } | undefined {
  const text = readTextIfExists(join(dir, OUTSIDE_RECORD));
  if (text === undefined) return undefined;
  let rec: OutsideFile;
  try {
    rec = JSON.parse(text) as OutsideFile;
  } catch (e) {
    if (e instanceof SyntaxError) return undefined; // cut short by a kill: nothing known
    throw e;
  }
  const st = typeof rec.path === "string" ? lstatIfExists(rec.path) : undefined;
  if (st === undefined || !st.isFile || st.dev !== rec.dev || st.ino !== rec.ino) return undefined;
  if (rec.born !== undefined && st.birthtime?.getTime() !== rec.born) return undefined;
  return { path: rec.path, st };
}

/** The operation, VM and PID a dot-name records, or undefined when it is no leftover's. Pure. */
export function parseLeftoverName(
  name: string,
): { op: Leftover["op"]; vm: string; pid: number } | undefined {
  const m = NAME.exec(name);
  if (m === null) return undefined;
  return { op: m[1] as Leftover["op"], vm: m[2] ?? "", pid: Number(m[3]) };
}

/** The command that left `l`, as a user types it (`vm export tar web`). Pure. */
export function leftoverCommand(l: Pick<Leftover, "op" | "vm">): string {
  return `vm ${LEFTOVER_OPS[l.op]} ${l.vm}`;
}

/** Bytes the tree at `path` uses on disk (allocated blocks, links not followed). */
export function treeBytes(path: string): number {
  const st = lstatIfExists(path);
  if (st === undefined) return 0;
  let total = (st.blocks ?? 0) * 512;
  if (st.isDirectory) {
    for (const e of Deno.readDirSync(path)) total += treeBytes(join(path, e.name));
  }
  return total;
}

/** Clock ticks per second of /proc's start times (USER_HZ: 100 on Linux). */
const USER_HZ = 100;

/** The Unix time the system booted (`btime` of /proc/stat). */
function bootTime(): number {
  const m = /^btime ([0-9]+)$/m.exec(Deno.readTextFileSync("/proc/stat"));
  return Number(m?.[1] ?? 0);
}

/**
 * Whether process `pid` runs and may be the one that made (or renamed) a
 * directory last changed at Unix time `touched`: its owner changed it after
 * it started, so a process started later only reuses the PID. Reads /proc.
 */
export function ownerRuns(pid: number, touched: number): boolean {
  const st = procStat(pid);
  if (st === undefined || st.state === "Z") return false;
  const started = bootTime() + st.startTime / USER_HZ;
  return started <= touched + 2;
}

/** The last time the entry `st` was changed (ctime: a rename counts; or its mtime). */
function lastTouched(st: Deno.FileInfo): number {
  const times = [st.ctime, st.mtime].filter((t): t is Date => t !== null);
  return times.length === 0 ? Infinity : Math.max(...times.map((t) => t.getTime() / 1000));
}

/** The entries of directory `dir`; none when it does not exist. Reads `dir`. */
function entriesOf(dir: string): Deno.DirEntry[] {
  try {
    return [...Deno.readDirSync(dir)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** The leftover directory `e` of `dir` is, if it is one; `sizes`: with the bytes of its tree. */
function dirLeftover(dir: string, e: Deno.DirEntry, sizes: boolean): Leftover | undefined {
  const parsed = e.isDirectory ? parseLeftoverName(e.name) : undefined;
  if (parsed === undefined) return undefined;
  const path = join(dir, e.name);
  const st = lstatIfExists(path);
  if (st === undefined) return undefined;
  const running = ownerRuns(parsed.pid, lastTouched(st)) || busy(path);
  const outside = outsideFile(path);
  const bytes = sizes ? treeBytes(path) + (outside ? treeBytes(outside.path) : 0) : 0;
  const l: Leftover = { name: e.name, path, ...parsed, running, bytes };
  if (outside !== undefined) l.outside = outside.path;
  return l;
}

/** Whether the image file `image` of the cache `dir`, or its `.part`, is there. */
function imageThere(dir: string, image: string): boolean {
  // The .part first: a pull renames it to the image, never back.
  return exists(join(dir, image + PART_SUFFIX)) || exists(join(dir, image));
}

/** The leftover the file `e` of the image cache `dir` is: a `.meta` whose image is gone. */
function metaLeftover(dir: string, e: Deno.DirEntry): Leftover | undefined {
  const image = e.isFile ? metaOwner(e.name) : undefined;
  if (image === undefined || imageThere(dir, image)) return undefined;
  const path = join(dir, e.name);
  const st = lstatIfExists(path);
  if (st === undefined) return undefined;
  const meta = readMetaFile(path);
  const pid = meta?.pid ?? 0;
  return {
    name: e.name,
    path,
    op: meta?.import !== undefined ? "image-import" : "pull",
    vm: parseStoredName(dir, image)?.name ?? image,
    pid,
    running: ownerRuns(pid, lastTouched(st)),
    bytes: (st.blocks ?? 0) * 512,
  };
}

/**
 * The leftovers in `vmdir` and its image cache (where `vm image import`
 * works, on the cache's file system, and images keep their `.meta`), by
 * name; `sizes` adds up their bytes (a walk of each tree). Reads `vmdir`,
 * `$VMDIR/.images` and /proc.
 */
export function findLeftovers(vmdir: string, sizes = true): Leftover[] {
  const top = entriesOf(vmdir);
  const out = top.map((e) => dirLeftover(vmdir, e, sizes));
  // The cache is read when VMDIR has one (`vm list` looks at every VMDIR).
  if (top.some((e) => e.name === IMAGES_DIR && !e.isFile)) {
    const images = imagesDir(vmdir);
    for (const e of entriesOf(images)) {
      out.push(dirLeftover(images, e, sizes) ?? metaLeftover(images, e));
    }
  }
  // `vm backup` assembles each backup in its VM's store, `$VMDIR/.backups/<vm>/`.
  if (top.some((e) => e.name === BACKUPS_DIR && e.isDirectory)) {
    for (const v of entriesOf(join(vmdir, BACKUPS_DIR))) {
      if (v.isDirectory) out.push(...storeLeftovers(join(vmdir, BACKUPS_DIR, v.name), sizes));
    }
  }
  return out.filter((l) => l !== undefined).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0
  );
}

/**
 * The half-made backups (`.backup-<vm>-<pid>`) in the backup store `store`
 * (lib/vm/backup_store.ts; `--to DIR` stores are outside `$VMDIR`). Reads
 * the store and /proc.
 */
export function storeLeftovers(store: string, sizes = true): Leftover[] {
  return entriesOf(store).map((e) => dirLeftover(store, e, sizes)).filter((l) =>
    l !== undefined && l.op === "backup"
  ) as Leftover[];
}

/** Whether any process works in the tree `path` (a QEMU, a runsv not yet gone). Reads /proc. */
function busy(path: string): boolean {
  const real = realPathOrUndefined(path);
  if (real === undefined) return false;
  return allPids().some((pid) => {
    const cwd = cwdOf(pid);
    return cwd !== undefined && isInsideDir(real, cwd);
  });
}

/**
 * Removes leftover `l` (and the file outside `$VMDIR` it recorded, when it is
 * still that file) after checking once more that its owner is gone and
 * nothing works in it; returns whether it was removed.
 */
export function removeLeftover(l: Leftover): boolean {
  const st = lstatIfExists(l.path);
  if (st?.isFile === true) return removeMetaLeftover(l, st);
  if (st === undefined || !st.isDirectory) return false;
  if (ownerRuns(l.pid, lastTouched(st)) || busy(l.path)) return false;
  const outside = outsideFile(l.path);
  if (outside !== undefined) removeIfExists(outside.path);
  Deno.removeSync(l.path, { recursive: true });
  return true;
}

/** Removes the `.meta` leftover `l` (`st`: its lstat) when its image is still gone and its writer too. */
function removeMetaLeftover(l: Leftover, st: Deno.FileInfo): boolean {
  const image = metaOwner(l.name);
  if (image === undefined || imageThere(dirname(l.path), image)) return false;
  if (ownerRuns(l.pid, lastTouched(st))) return false;
  removeIfExists(l.path);
  return true;
}

/**
 * The line `vm list` prints on stderr about leftovers whose owner is gone
 * (none: undefined): `2 unfinished operations hold 40 GiB: …`. Pure.
 */
export function leftoversLine(leftovers: readonly Leftover[]): string | undefined {
  const gone = leftovers.filter((l) => !l.running);
  if (gone.length === 0) return undefined;
  const bytes = formatBytes(gone.reduce((n, l) => n + l.bytes, 0));
  const what = gone.length === 1
    ? "1 unfinished operation holds"
    : `${gone.length} unfinished operations hold`;
  return `vm: ${what} ${bytes}: vm doctor --fix removes ${gone.length === 1 ? "it" : "them"}`;
}
