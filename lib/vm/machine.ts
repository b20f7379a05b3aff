/**
 * The machine of a VM: its architecture (the `arch` file, else
 * VMCONF_QEMU_ARCH, else the host's), its firmware (BIOS, or UEFI with the
 * VM's own `efivars.fd`, with or without Secure Boot) and its TPM (swtpm
 * behind `supervise/tpm`). `vm make` turns the choice into templates
 * ({@link machineTemplates}); `__run` and `vm args` resolve what the
 * templates name (`$VM_UEFI_CODE`, `$VM_UEFI_SECURE_CODE`: the code images
 * QEMU's firmware descriptors give, lib/qemu/firmware.ts).
 * Reads `<vm>/arch` (through the Vm value) and the firmware descriptors.
 * @module
 */

import { SystemError } from "../errors.ts";
import { F, MACHINE_TEMPLATES } from "../layout.ts";
import { type Arch, ARCHES, hostArch, isArch } from "../qemu/arch.ts";
import { findFirmware } from "../qemu/firmware.ts";
import type { Config, Env } from "./config.ts";
import type { Vm } from "./inspect.ts";

/** The environment variables the firmware templates name. */
export const FIRMWARE_ENV = {
  code: "VM_UEFI_CODE",
  secureCode: "VM_UEFI_SECURE_CODE",
} as const;

/** What `vm make` was asked for the machine. */
export interface MachineChoice {
  arch: Arch;
  firmware: "bios" | "uefi";
  secureBoot: boolean;
  tpm: boolean;
  windows: boolean;
}

/** The templates a machine choice adds (see lib/layout.ts MACHINE_TEMPLATES). Pure. */
export function machineTemplates(c: MachineChoice): string[] {
  const out: string[] = [];
  if (c.arch !== "x86_64") out.push(MACHINE_TEMPLATES.virt);
  if (c.secureBoot) out.push(MACHINE_TEMPLATES.secureBoot);
  else if (c.firmware === "uefi") out.push(MACHINE_TEMPLATES.uefi);
  if (c.tpm) out.push(c.arch === "x86_64" ? MACHINE_TEMPLATES.tpm : MACHINE_TEMPLATES.tpmVirt);
  if (c.windows) out.push(MACHINE_TEMPLATES.windows);
  return out;
}

/**
 * The VM's architecture: its `arch` file, else `VMCONF_QEMU_ARCH`, else the
 * host's. Throws SystemError for an `arch` file naming none vm knows.
 */
export function vmArch(vm: Vm, cfg: Config): string {
  const text = vm.archText;
  if (text === undefined) return cfg.qemuArch ?? hostArch();
  if (isArch(text)) return text;
  throw new SystemError(
    `"${vm.dir}/${F.arch}" says "${text}", not an architecture vm knows; ` +
      `write one of ${ARCHES.join(", ")} into it`,
  );
}

/**
 * Why KVM cannot run a guest of `arch` on this host (another architecture),
 * or undefined. Pure but for the host's arch.
 */
export function archKvmProblem(arch: string, host: string = hostArch()): string | undefined {
  return arch === host ? undefined : `the guest is ${arch}, the host ${host}`;
}

/**
 * The firmware variables `vm`'s templates name, resolved for `arch` from
 * QEMU's firmware descriptors; nothing when no template names them, and none
 * that `given` (the config, a `pre_qemu` hook) sets already: a firmware of
 * your own. Reads the templates (through the Vm value) and the descriptors;
 * throws SystemError naming the package to install when the firmware is missing.
 */
export function firmwareEnv(vm: Vm, arch: string, given: Env = {}): Env {
  let names: string[];
  try {
    names = vm.templates;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return {};
    throw e;
  }
  const texts = names.map((n) => vm.templateText(n) ?? "").join("\n");
  const env: Env = {};
  const wanted = (name: string) => texts.includes(name) && !given[name];
  if (wanted(FIRMWARE_ENV.code)) {
    env[FIRMWARE_ENV.code] = findFirmware({ arch, secureBoot: false }).code;
  }
  if (wanted(FIRMWARE_ENV.secureCode)) {
    env[FIRMWARE_ENV.secureCode] = findFirmware({ arch, secureBoot: true }).code;
  }
  return env;
}

/** Whether QEMU's arguments connect to the VM's swtpm (`supervise/tpm`). Pure. */
export function usesTpm(args: readonly string[]): boolean {
  return args.some((a) => a.includes(F.tpmSocket));
}

/** What `vm info` and `vm list --json` show of the machine. */
export interface MachineInfo {
  arch: string;
  /** `bios`, `uefi` or `uefi+secure-boot` (by the templates chosen). */
  firmware: string;
  /** Whether the VM has a TPM (the `tpm` or `tpm-virt` template). */
  tpm: boolean;
}

/** The VM's machine fields; a bad `arch` file is shown as it is. Reads nothing but the Vm value's. */
export function machineInfo(vm: Vm, cfg: Config): MachineInfo {
  // The entries' names (one read, never throws): a listing asks this of every VM.
  const names = [...vm.templateEntries?.keys() ?? []];
  const secure = names.includes(MACHINE_TEMPLATES.secureBoot);
  const uefi = secure || names.includes(MACHINE_TEMPLATES.uefi) || vm.efivars;
  return {
    arch: vm.archText ?? cfg.qemuArch ?? hostArch(),
    firmware: secure ? "uefi+secure-boot" : uefi ? "uefi" : "bios",
    tpm: names.includes(MACHINE_TEMPLATES.tpm) || names.includes(MACHINE_TEMPLATES.tpmVirt),
  };
}
