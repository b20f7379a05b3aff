/**
 * Linked clones, seen from their base: a VM whose disk is a qcow2 overlay
 * (`vm clone --linked`) names its backing file in the qcow2 header; a VM
 * whose directory holds such a backing file is the base of that clone, and
 * must not run (writing its disk corrupts what the clone sees). Found by
 * reading the headers of the top-level files of every VM directory, without
 * running qemu-img, so `vm list` stays fast. Reads `$VMDIR/<vm>/*` (the
 * first bytes of each regular file, and its backing file name).
 * @module
 */

import { dirname, join, normalize, resolve } from "../os/path.ts";
import { realPathOrUndefined } from "../os/fs.ts";
import { F } from "../layout.ts";
import { listVms, type VmEntries } from "./dir.ts";
import { dirEntries } from "../os/lookup.ts";

/** Bytes of a qcow2 header read to find its backing file name. */
const HEADER = 20;
/** The longest backing file name qcow2 allows (bytes). */
const MAX_NAME = 1023;
/** Files of a VM directory that are never disks. */
const NOT_DISKS: ReadonlySet<string> = new Set([
  F.run,
  F.finish,
  F.wait,
  F.down,
  F.hooks,
  F.backoff,
  F.ports,
  F.lock,
]);

/**
 * The backing file offset and size a qcow2 header (its first 20 bytes)
 * gives: magic `QFI\xfb`, version, u64 offset, u32 size, big-endian. Pure;
 * undefined when `head` is no qcow2 header or the image has no backing file.
 */
export function qcow2BackingRef(head: Uint8Array): { offset: number; size: number } | undefined {
  if (head.length < HEADER) return undefined;
  if (head[0] !== 0x51 || head[1] !== 0x46 || head[2] !== 0x49 || head[3] !== 0xfb) {
    return undefined;
  }
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const offset = Number(view.getBigUint64(8));
  const size = view.getUint32(16);
  if (offset === 0 || size === 0 || size > MAX_NAME) return undefined;
  return { offset, size };
}

/** Reads exactly `buf.length` bytes at `pos` of `file`, or fewer at its end. */
function readAt(file: Deno.FsFile, pos: number, buf: Uint8Array): number {
  file.seekSync(pos, Deno.SeekMode.Start);
  let got = 0;
  while (got < buf.length) {
    const n = file.readSync(buf.subarray(got));
    if (n === null || n === 0) break;
    got += n;
  }
  return got;
}

/** The backing file name in the qcow2 header of `path`, or undefined (none, not qcow2, unreadable). */
export function qcow2Backing(path: string): string | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (e) {
    // Gone, or not ours to read: not a disk of this VMDIR's clones to judge.
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied) {
      return undefined;
    }
    throw e;
  }
  try {
    const head = new Uint8Array(HEADER);
    const ref = readAt(file, 0, head) === HEADER ? qcow2BackingRef(head) : undefined;
    if (ref === undefined) return undefined;
    const name = new Uint8Array(ref.size);
    if (readAt(file, ref.offset, name) !== ref.size) return undefined;
    return new TextDecoder().decode(name);
  } finally {
    file.close();
  }
}

/**
 * The absolute backing files of the top-level qcow2 overlays in VM directory
 * `dir`, whose entries are `entries` (read now when not given).
 */
function backingsIn(dir: string, entries = dirEntries(dir)): string[] {
  const out: string[] = [];
  for (const [name, type] of entries ?? []) {
    if (type !== "file" || NOT_DISKS.has(name)) continue;
    const backing = qcow2Backing(join(dir, name));
    if (backing !== undefined) out.push(resolve(dir, backing));
  }
  return out;
}

/**
 * The linked clones of every VM in `vmdir`: base name → the VMs with a
 * top-level disk backed by a file in the base's directory, sorted. VMs that
 * are no base are absent. Reads every VM directory (see the module); `dirs`
 * are the VMs with their entries when the caller has read them.
 */
export function linkedClones(
  vmdir: string,
  dirs: Map<string, VmEntries | undefined> = new Map(listVms(vmdir).map((n) => [n, undefined])),
): Map<string, string[]> {
  const names = [...dirs.keys()];
  const roots = [normalize(vmdir), realPathOrUndefined(vmdir)].filter((r) => r !== undefined);
  const out = new Map<string, string[]>();
  for (const [clone, entries] of dirs) {
    for (const backing of backingsIn(join(vmdir, clone), entries)) {
      const base = baseOf(backing, roots, names);
      if (base === undefined || base === clone) continue;
      const list = out.get(base) ?? [];
      if (!list.includes(clone)) list.push(clone);
      out.set(base, list.sort());
    }
  }
  return out;
}

/** The VM of `names` whose directory (under one of `roots`) holds `file`, or undefined. Pure. */
export function baseOf(
  file: string,
  roots: readonly string[],
  names: readonly string[],
): string | undefined {
  for (const root of roots) {
    if (!file.startsWith(root + "/")) continue;
    const vm = file.slice(root.length + 1).split("/")[0] ?? "";
    if (names.includes(vm) && dirname(file) !== root) return vm;
  }
  return undefined;
}
