/**
 * A VM's drives as libvirt `<disk>` elements: `-drive` (with `if=` or with
 * `if=none` and its `-device`), `-hda`…`-hdd` and `-cdrom`, with the image
 * format, the backing chain as `<backingStore>`, cache/discard/aio, read-only
 * and CD-ROM media; the VM's cloud-init seed.iso as a CD-ROM when no
 * template names it (as `vm export nomad` does). Paths become absolute (libvirt does not run QEMU in the
 * VM directory). A drive with options that have no XML form is left to
 * `<qemu:commandline>` whole, with its device. Pure: no I/O. Area lib/export, at the level of actions.
 * @module
 */

import { el, type XmlElement } from "./xml.ts";
import { leadWord, type OptionGroup, optsOf, withoutLead } from "./qemu_options.ts";
import { abs, type LibvirtCtx, nextTarget, open, take } from "./libvirt_ctx.ts";
import type { ImageLayer } from "./vm_model.ts";
import { localFile } from "../qemu/drives.ts";
import { optGet, type OptItem } from "../qemu/opt_list.ts";

/** `-drive` keys the XML can say. */
const DRIVE_KEYS = new Set([
  "file",
  "format",
  "if",
  "index",
  "media",
  "cache",
  "discard",
  "aio",
  "readonly",
  "id",
]);

/** Bus and target prefix of an interface. */
const BUSES: Record<string, { bus: string; prefix: string }> = {
  virtio: { bus: "virtio", prefix: "vd" },
  ide: { bus: "ide", prefix: "hd" },
  sata: { bus: "sata", prefix: "sd" },
  scsi: { bus: "scsi", prefix: "sd" },
  floppy: { bus: "fdc", prefix: "fd" },
};

/** The bus a `-device` attaching a drive implies. */
const DEVICE_BUS: Record<string, { iface: string; cdrom?: boolean }> = {
  "virtio-blk-pci": { iface: "virtio" },
  "virtio-blk": { iface: "virtio" },
  "ide-hd": { iface: "ide" },
  "ide-cd": { iface: "ide", cdrom: true },
};

/** One drive to write. */
interface Drive {
  file?: string;
  format?: string;
  iface: string;
  index?: number;
  cdrom: boolean;
  readonly: boolean;
  driver: Record<string, string | undefined>;
}

/** `<backingStore>` elements for a chain, nearest first (the last one empty). Pure. */
export function backingStore(chain: readonly ImageLayer[]): XmlElement {
  const [first, ...rest] = chain;
  if (first === undefined) return el("backingStore");
  return el(
    "backingStore",
    { type: "file" },
    el("format", { type: first.format }),
    el("source", { file: first.path }),
    backingStore(rest),
  );
}

/**
 * The interface a drive gets in libvirt: IDE is SATA on a q35; a CD-ROM on
 * virtio (QEMU makes it a read-only virtio disk, libvirt refuses it) is an
 * IDE (SATA) CD-ROM, or SCSI on machines without IDE (aarch64).
 */
function ifaceOf(ctx: LibvirtCtx, d: Drive): string {
  let iface = d.iface;
  if (d.cdrom && iface === "virtio") {
    iface = ctx.model.arch === "x86_64" ? "ide" : "scsi";
    ctx.notes.push(
      `${d.file ?? "a drive"}: a CD-ROM on virtio became a CD-ROM on ${iface} ` +
        "(libvirt has no virtio CD-ROM)",
    );
  }
  return iface === "ide" && ctx.q35 ? "sata" : iface;
}

function diskElement(ctx: LibvirtCtx, d: Drive): XmlElement {
  const iface = ifaceOf(ctx, d);
  const bus = BUSES[iface] ?? { bus: iface, prefix: "sd" };
  const path = d.file === undefined ? undefined : abs(ctx, d.file);
  const known = ctx.model.disks.find((x) => x.path === path);
  const format = d.format ?? known?.format ?? "raw";
  return el(
    "disk",
    { type: "file", device: d.cdrom ? "cdrom" : "disk" },
    el("driver", { name: "qemu", type: format, ...d.driver }),
    path === undefined ? undefined : el("source", { file: path }),
    known !== undefined && known.chain.length > 0 ? backingStore(known.chain) : undefined,
    el("target", { dev: nextTarget(ctx, bus.prefix, d.index ?? 0), bus: bus.bus }),
    d.readonly || d.cdrom ? el("readonly") : undefined,
  );
}

/** A Drive from `-drive` options and the interface they (or the device) give. */
function driveOf(opts: OptItem[], iface: string, cdrom: boolean): Drive {
  const file = optGet(opts, "file");
  const index = optGet(opts, "index");
  const aio = optGet(opts, "aio");
  const d: Drive = {
    iface,
    cdrom,
    readonly: optGet(opts, "readonly") === "on",
    driver: { cache: optGet(opts, "cache"), discard: optGet(opts, "discard"), io: aio },
  };
  const local = file === undefined ? undefined : localFile(file);
  if (local !== undefined) d.file = local;
  const format = optGet(opts, "format");
  if (format !== undefined) d.format = format;
  if (index !== undefined && /^[0-9]+$/.test(index)) d.index = Number(index);
  return d;
}

/** Maps one `-drive`; leaves it (and its device) for the command line when it cannot. */
function mapDrive(ctx: LibvirtCtx, g: OptionGroup): void {
  const opts = optsOf(g);
  const file = optGet(opts, "file");
  if (opts.some((o) => !DRIVE_KEYS.has(o.key)) || (file !== undefined && !localFile(file))) return;
  const cdrom = optGet(opts, "media") === "cdrom";
  // QEMU's default interface: IDE on x86_64's machines, virtio on virt (aarch64, riscv64).
  const iface = optGet(opts, "if") ?? (ctx.model.arch === "x86_64" ? "ide" : "virtio");
  if (iface !== "none") {
    if (BUSES[iface] === undefined) return;
    take(ctx, g);
    ctx.devices.push(diskElement(ctx, driveOf(opts, iface, cdrom)));
    return;
  }
  const id = optGet(opts, "id");
  const devs = ctx.groups.filter((d) => d.opt === "-device" && optGet(optsOf(d), "drive") === id);
  const dev = devs[0];
  const kind = DEVICE_BUS[leadWord(optsOf(dev ?? g), "driver") ?? ""];
  const devOpts = withoutLead(optsOf(dev ?? g), ["driver", "drive", "id", "bootindex"]);
  if (id === undefined || devs.length !== 1 || kind === undefined || devOpts.length > 0) return;
  take(ctx, g, dev);
  ctx.devices.push(diskElement(ctx, driveOf(opts, kind.iface, cdrom || kind.cdrom === true)));
}

/** Maps every drive of the VM to `<disk>` elements (see the module doc). */
export function mapDisks(ctx: LibvirtCtx): void {
  for (const g of open(ctx, "-drive")) mapDrive(ctx, g);
  for (const g of open(ctx, "-hda", "-hdb", "-hdc", "-hdd", "-cdrom")) {
    const file = localFile(g.value?.value ?? "");
    if (file === undefined) continue;
    take(ctx, g);
    const index = g.opt === "-cdrom" ? 2 : "abcd".indexOf(g.opt.slice(-1));
    ctx.devices.push(diskElement(ctx, {
      file,
      iface: "ide",
      index,
      cdrom: g.opt === "-cdrom",
      readonly: false,
      driver: {},
    }));
  }
  const seed = ctx.model.seed?.path;
  const named = (d: XmlElement) =>
    d.children.some((c) => typeof c !== "string" && c.attrs.file === seed);
  if (seed !== undefined && !ctx.devices.some(named)) {
    ctx.devices.push(
      diskElement(ctx, { file: seed, iface: "ide", cdrom: true, readonly: true, driver: {} }),
    );
    ctx.notes.push("seed.iso: added as a CD-ROM (no template names it)");
  }
}

const BOOT: Record<string, string> = { a: "fd", c: "hd", d: "cdrom", n: "network" };

/** `<boot dev>` elements from `-boot order=…` (or `-boot dc`); undefined when it says more. */
export function bootOrder(g: OptionGroup): XmlElement[] | undefined {
  const opts = optsOf(g);
  const first = opts[0];
  const order = optGet(opts, "order") ?? (opts.length === 1 && first?.bare ? first.key : undefined);
  if (order === undefined || opts.length !== 1 || ![...order].every((c) => BOOT[c])) {
    return undefined;
  }
  return [...order].map((c) => el("boot", { dev: BOOT[c] }));
}
