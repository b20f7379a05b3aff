/**
 * The layout of a `vm export tar` archive and the plans both ends follow.
 * The archive holds `manifest.json` first, then `vm/`: the VM directory's
 * files (templates, wait, hooks, ports, seed.iso, known_hosts, disks, log
 * config…; not runit's run-time state or the scripts, which import makes
 * anew) and, unless `--no-backing`, the disks' backing images under
 * `vm/<backing dir>/<n>-<file>`. The manifest lists every image of every
 * disk's chain with its format and backing image, so import can rebase
 * each overlay onto its backing image where that now is (`qemu-img rebase
 * -u`). With `--no-backing` a backing image is named as it was: relative to
 * `$VMDIR` when it was inside it (`.images/…`, another VM's disk), else
 * absolute; import finds it on the new host or refuses. Pure: no I/O.
 * Area lib/export, at the level of actions.
 * @module
 */

import { basename, dirname, isAbsolute, join, normalize, relative } from "../os/path.ts";
import { UsageError } from "../errors.ts";
import type { DiskModel } from "./vm_model.ts";

/** `format` of the manifest. */
export const TAR_FORMAT = "vm-export-tar";
/** `version` of the manifest this code writes and reads. */
export const TAR_VERSION = 1;
/** The manifest's name in the archive. */
export const MANIFEST = "manifest.json";
/** The VM directory's name in the archive. */
export const VM_ROOT = "vm";

/** One image of a disk chain. */
export interface TarImage {
  /** In the archive, relative to `vm/` (and so in the imported VM's directory). */
  path?: string;
  /** Not in the archive (`--no-backing`): relative to `$VMDIR` when it was inside it, else absolute. */
  external?: string;
  format: string;
  /** Index in `images` of its backing image. */
  backing?: number;
}

/** The archive's `manifest.json`. */
export interface TarManifest {
  format: typeof TAR_FORMAT;
  version: number;
  name: string;
  images: TarImage[];
}

/** A file to put into the archive: where it is, and its name under `vm/`. */
export interface Staged {
  source: string;
  path: string;
}

/** A first name not in `taken` among `base`, `base-1`, `base-2`… Pure. */
export function freeName(base: string, taken: ReadonlySet<string>): string {
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}-${i}`;
  return name;
}

/**
 * The manifest and the backing images to stage, for the disks of VM `name`
 * (all inside `vmDir`, absolute), VMDIR `vmdir`, with `entries` the top-level
 * names in the VM directory (for a free backing directory name). Pure.
 */
export function planExport(
  name: string,
  vmDir: string,
  vmdir: string,
  disks: readonly DiskModel[],
  entries: ReadonlySet<string>,
  noBacking: boolean,
): { manifest: TarManifest; backing: Staged[] } {
  const bdir = freeName("backing", entries);
  const images: TarImage[] = [];
  const index = new Map<string, number>();
  const backing: Staged[] = [];
  const place = (path: string, format: string): number => {
    const known = index.get(path);
    if (known !== undefined) return known;
    const img: TarImage = { format };
    const rel = relative(vmDir, path);
    if (!rel.startsWith("..") && rel !== "") img.path = rel;
    else if (noBacking) {
      const inVmdir = relative(vmdir, path);
      img.external = inVmdir.startsWith("..") ? path : inVmdir;
    } else {
      img.path = `${bdir}/${backing.length}-${basename(path)}`;
      backing.push({ source: path, path: img.path });
    }
    images.push(img);
    index.set(path, images.length - 1);
    return images.length - 1;
  };
  for (const d of disks) {
    const layers = [{ path: d.path, format: d.format }, ...d.chain];
    const at = layers.map((l) => place(l.path, l.format));
    at.forEach((i, k) => {
      const below = at[k + 1];
      const img = images[i];
      if (below !== undefined && img !== undefined) img.backing = below;
    });
  }
  return { manifest: { format: TAR_FORMAT, version: TAR_VERSION, name, images }, backing };
}

/** Whether `p` is a plain relative path that stays inside its directory. Pure. */
function isInsidePath(p: string): boolean {
  return p !== "" && !isAbsolute(p) && normalize(p) === p && !p.startsWith("..") &&
    !p.includes("/../");
}

/** Parses and checks a manifest's text; throws UsageError naming what is wrong. Pure. */
export function parseManifest(text: string): TarManifest {
  let m: TarManifest;
  try {
    m = JSON.parse(text) as TarManifest;
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    throw new UsageError(`The archive's ${MANIFEST} is not JSON; is it made by "vm export tar"?`);
  }
  if (m?.format !== TAR_FORMAT || typeof m.name !== "string" || !Array.isArray(m.images)) {
    throw new UsageError(
      `The archive is not made by "vm export tar" (no "${TAR_FORMAT}" manifest)`,
    );
  }
  if (m.version !== TAR_VERSION) {
    throw new UsageError(
      `The archive is version ${m.version}; this vm reads version ${TAR_VERSION}`,
    );
  }
  m.images.forEach((img, i) => {
    const ok = (img.path === undefined) !== (img.external === undefined) &&
      (img.path === undefined || isInsidePath(img.path)) &&
      (img.backing === undefined || (Number.isInteger(img.backing) && img.backing !== i &&
        img.backing >= 0 && img.backing < m.images.length)) &&
      typeof img.format === "string" && /^[a-z0-9]+$/.test(img.format);
    if (!ok) throw new UsageError(`The archive's ${MANIFEST} has a bad image entry ${i}`);
  });
  return m;
}

/** One `qemu-img rebase -u` to run after import: image, new backing name, its format. */
export interface Rebase {
  /** Absolute path of the overlay where it is being assembled. */
  image: string;
  /** Backing file name to write: relative to the overlay's final directory, or absolute. */
  backing: string;
  format: string;
  /** For a backing image outside the archive: its absolute path, which must exist. */
  external?: string;
}

/**
 * The rebases that make the imported chains whole: the VM is assembled in
 * `vmDir` and will be `finalDir` in `$VMDIR` `vmdir`; a backing image outside
 * the archive is named relative when it is in `vmdir` (as a linked clone's
 * is), else by its absolute path. Pure.
 */
export function planRebases(
  m: TarManifest,
  vmDir: string,
  finalDir: string,
  vmdir: string,
): Rebase[] {
  const out: Rebase[] = [];
  for (const img of m.images) {
    const below = img.backing === undefined ? undefined : m.images[img.backing];
    if (img.path === undefined || below === undefined) continue;
    const from = dirname(join(finalDir, img.path));
    const r: Rebase = { image: join(vmDir, img.path), backing: "", format: below.format };
    if (below.path !== undefined) r.backing = relative(from, join(finalDir, below.path));
    else if (isAbsolute(below.external ?? "")) {
      r.external = r.backing = below.external ?? "";
    } else {
      r.external = join(vmdir, below.external ?? "");
      r.backing = relative(from, r.external);
    }
    out.push(r);
  }
  return out;
}
