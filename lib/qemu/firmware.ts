/**
 * UEFI firmware found the way libvirt finds it: from QEMU's firmware
 * descriptors (docs/interop/firmware.json), JSON files in
 * `/etc/qemu/firmware` and `/usr/share/qemu/firmware` (a file in the first
 * hides one of the same name in the second), taken in the order of their
 * names. A VM asks for an architecture and whether it wants Secure Boot; the
 * first descriptor of a `uefi` flash firmware for that architecture that
 * fits wins: with Secure Boot one with `secure-boot`, `enrolled-keys` and
 * `requires-smm` on x86_64 (the Microsoft keys enrolled: Debian's `.ms` pair),
 * without it one that needs neither SMM nor Secure Boot. Parsing and the
 * choice are pure; {@link findFirmware} reads the directories.
 * @module
 */

import { join } from "../os/path.ts";
import { SystemError } from "../errors.ts";
import { firmwarePackage } from "./arch.ts";

/** The directories QEMU's descriptors are searched in, in priority order. */
export const FIRMWARE_DIRS = ["/etc/qemu/firmware", "/usr/share/qemu/firmware"] as const;

/** One usable descriptor: a UEFI firmware in split flash mode. */
export interface Firmware {
  /** The descriptor's file name (for messages). */
  file: string;
  /** The read-only code image. */
  code: string;
  /** The template each VM's variable store is copied from. */
  varsTemplate: string;
  /** Architectures it runs with their machine-type globs (`pc-q35-*`). */
  targets: { arch: string; machines: string[] }[];
  features: string[];
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

function fileOf(v: unknown): string | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.filename !== "string" || (o.format !== undefined && o.format !== "raw")) {
    return undefined;
  }
  return o.filename;
}

/**
 * The descriptor's firmware when it is a UEFI firmware on flash with a code
 * image and a variable-store template, both raw; undefined for anything else
 * (BIOS, a memory-mapped or stateless firmware, a qcow2 image, JSON of
 * another shape). Pure.
 */
export function parseDescriptor(file: string, text: string): Firmware | undefined {
  let d: unknown;
  try {
    d = JSON.parse(text);
  } catch (e) {
    if (e instanceof SyntaxError) return undefined;
    throw e;
  }
  if (typeof d !== "object" || d === null) return undefined;
  const o = d as Record<string, unknown>;
  if (!isStringArray(o["interface-types"]) || !o["interface-types"].includes("uefi")) {
    return undefined;
  }
  const mapping = o.mapping as Record<string, unknown> | undefined;
  if (typeof mapping !== "object" || mapping === null || mapping.device !== "flash") {
    return undefined;
  }
  if (mapping.mode !== undefined && mapping.mode !== "split") return undefined;
  const code = fileOf(mapping.executable);
  const varsTemplate = fileOf(mapping["nvram-template"]);
  if (code === undefined || varsTemplate === undefined) return undefined;
  const targets: Firmware["targets"] = [];
  for (const t of Array.isArray(o.targets) ? o.targets : []) {
    const r = t as Record<string, unknown>;
    if (typeof r?.architecture === "string" && isStringArray(r.machines)) {
      targets.push({ arch: r.architecture, machines: r.machines });
    }
  }
  const features = isStringArray(o.features) ? o.features : [];
  return { file, code, varsTemplate, targets, features };
}

/** What a VM asks of its firmware. */
export interface FirmwareWish {
  arch: string;
  secureBoot: boolean;
}

/** Whether a machine glob of a descriptor (`pc-q35-*`, `virt-*`) covers machine family `family`. */
function machineMatches(glob: string, family: string): boolean {
  const re = new RegExp(
    "^" + glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$",
  );
  return re.test(`${family}-9.0`) || re.test(family);
}

/** The machine family a VM of `arch` runs: q35 with Secure Boot, QEMU's default otherwise. */
function familyOf(wish: FirmwareWish): string | undefined {
  if (wish.arch === "x86_64") return wish.secureBoot ? "pc-q35" : "pc-i440fx";
  if (wish.arch === "aarch64" || wish.arch === "riscv64") return "virt";
  return undefined;
}

/** Whether `fw` fits `wish` (see the module). Pure. */
export function fits(fw: Firmware, wish: FirmwareWish): boolean {
  const family = familyOf(wish);
  const target = fw.targets.find((t) =>
    t.arch === wish.arch &&
    (family === undefined || t.machines.some((m) => machineMatches(m, family)))
  );
  if (target === undefined) return false;
  const has = (f: string) => fw.features.includes(f);
  if (wish.secureBoot) {
    // x86_64's Secure Boot needs SMM (the secure pflash): only such an image protects its vars.
    return has("secure-boot") && has("enrolled-keys") &&
      (wish.arch !== "x86_64" || has("requires-smm"));
  }
  return !has("secure-boot") && !has("requires-smm") && !has("enrolled-keys");
}

/**
 * The descriptors' files to read: `files` maps each directory of
 * {@link FIRMWARE_DIRS} (in order) to its JSON file names; a name in an
 * earlier directory hides the same name in a later one; sorted by name. Pure.
 */
export function descriptorPaths(files: ReadonlyArray<[string, readonly string[]]>): string[] {
  const byName = new Map<string, string>();
  for (const [dir, names] of files) {
    for (const n of names) if (n.endsWith(".json") && !byName.has(n)) byName.set(n, join(dir, n));
  }
  return [...byName.keys()].sort().map((n) => byName.get(n) ?? n);
}

/** The first of `firmwares` (in descriptor order) that fits `wish`. Pure. */
export function chooseFirmware(
  firmwares: readonly Firmware[],
  wish: FirmwareWish,
): Firmware | undefined {
  return firmwares.find((fw) => fits(fw, wish));
}

/** The line for a missing firmware: what was looked for, and the package to install. Pure. */
export function missingFirmwareLine(wish: FirmwareWish, dirs: readonly string[]): string {
  const what = wish.secureBoot
    ? `UEFI firmware with Secure Boot and enrolled keys for ${wish.arch}`
    : `UEFI firmware for ${wish.arch}`;
  return `No ${what} in QEMU's firmware descriptors (${dirs.join(", ")}); ` +
    `install ${firmwarePackage(wish.arch)} (apt-get install ${firmwarePackage(wish.arch)})`;
}

function jsonNames(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return [];
    throw e;
  }
}

/**
 * The firmware for `wish` from the descriptors in `dirs`, its code image
 * and template existing. Reads the directories and the descriptors; throws
 * SystemError naming the package to install when none fits (exit 111).
 */
export function findFirmware(
  wish: FirmwareWish,
  dirs: readonly string[] = FIRMWARE_DIRS,
): Firmware {
  const paths = descriptorPaths(dirs.map((d) => [d, jsonNames(d)]));
  const firmwares: Firmware[] = [];
  for (const p of paths) {
    let text: string;
    try {
      text = Deno.readTextFileSync(p);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied) continue;
      throw e;
    }
    const fw = parseDescriptor(p, text);
    if (fw === undefined || !fits(fw, wish)) continue;
    try {
      Deno.statSync(fw.code);
      Deno.statSync(fw.varsTemplate);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
    firmwares.push(fw);
  }
  const fw = chooseFirmware(firmwares, wish);
  if (fw === undefined) throw new SystemError(missingFirmwareLine(wish, dirs));
  return fw;
}
