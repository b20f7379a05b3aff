/**
 * The state shared by the libvirt mappers while one VM's arguments become a
 * domain: the option groups, which of them an XML element took, the devices
 * made so far and the disk target names in use. Pure: no I/O. Area lib/export, at the level of actions.
 * @module
 */

import { resolveDisk } from "../qemu/drives.ts";
import type { XmlElement } from "./xml.ts";
import type { OptionGroup } from "./qemu_options.ts";
import type { VmModel } from "./vm_model.ts";

/** The mappers' shared state. */
export interface LibvirtCtx {
  model: VmModel;
  groups: OptionGroup[];
  /** Groups an XML element stands for (the rest go to `<qemu:commandline>`). */
  taken: Set<OptionGroup>;
  /** Groups added for `<qemu:commandline>` (what remains of a partly mapped option). */
  extra: OptionGroup[];
  devices: XmlElement[];
  /** Disk target names in use (`vda`, `hdc`). */
  targets: Set<string>;
  /** Whether the machine is a q35 (IDE disks become SATA). */
  q35: boolean;
  /** Things mapped approximately, said to the user. */
  notes: string[];
}

/** Marks groups as mapped to XML. */
export function take(ctx: LibvirtCtx, ...gs: (OptionGroup | undefined)[]): void {
  for (const g of gs) if (g !== undefined) ctx.taken.add(g);
}

/** The groups with option `opt` (any of them) not taken yet. Pure. */
export function open(ctx: LibvirtCtx, ...opts: string[]): OptionGroup[] {
  return ctx.groups.filter((g) => opts.includes(g.opt) && !ctx.taken.has(g));
}

/** A path as QEMU would open it with the VM directory as its cwd (libvirt runs it elsewhere). */
export function abs(ctx: LibvirtCtx, path: string): string {
  return resolveDisk(ctx.model.dir, path);
}

/** The first free disk target `<prefix>a`, `<prefix>b`… from `index` on; marks it used. */
export function nextTarget(ctx: LibvirtCtx, prefix: string, index = 0): string {
  for (let i = index; i < 26 * 27; i++) {
    const letters = i < 26
      ? String.fromCharCode(97 + i)
      : String.fromCharCode(96 + Math.floor(i / 26)) + String.fromCharCode(97 + (i % 26));
    const name = prefix + letters;
    if (!ctx.targets.has(name)) {
      ctx.targets.add(name);
      return name;
    }
  }
  return prefix + "zz";
}
