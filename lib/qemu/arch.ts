/**
 * The guest architectures `vm` knows (`vm make --arch`): QEMU's name for
 * each (`qemu-system-<arch>`), the Debian packages holding its QEMU and its
 * UEFI firmware (named in the one line a missing one gives), and whether
 * the host can run it with KVM. Pure.
 * @module
 */

import { UsageError } from "../errors.ts";

/** The architectures, as QEMU and `uname -m` name them. */
export const ARCHES = ["x86_64", "aarch64", "riscv64"] as const;

/** One of {@link ARCHES}. */
export type Arch = typeof ARCHES[number];

/** Whether `text` names one of {@link ARCHES}. Pure. */
export function isArch(text: string): text is Arch {
  return (ARCHES as readonly string[]).includes(text);
}

/** `text` as an Arch; throws UsageError naming the choices. Pure. */
export function checkArch(text: string, what = "--arch"): Arch {
  if (isArch(text)) return text;
  throw new UsageError(
    `${what} "${text}" is not an architecture vm knows; use one of ${ARCHES.join(", ")}`,
  );
}

/** The host's architecture (Deno's name is `uname -m`'s). */
export function hostArch(): string {
  return Deno.build.arch;
}

/** The Debian package with `qemu-system-<arch>`. Pure. */
export function qemuPackage(arch: string): string {
  switch (arch) {
    case "x86_64":
      return "qemu-system-x86";
    case "aarch64":
      return "qemu-system-arm";
    default:
      return "qemu-system-misc";
  }
}

/** The Debian package with the UEFI firmware (and its descriptors) for `arch`. Pure. */
export function firmwarePackage(arch: string): string {
  switch (arch) {
    case "x86_64":
      return "ovmf";
    case "aarch64":
      return "qemu-efi-aarch64";
    default:
      return `qemu-efi-${arch}`;
  }
}

/** The firmware a new VM of `arch` gets by default: BIOS on x86_64, UEFI elsewhere. Pure. */
export function defaultFirmware(arch: string): "bios" | "uefi" {
  return arch === "x86_64" ? "bios" : "uefi";
}
