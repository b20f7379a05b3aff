/**
 * `vm info`: everything about one VM in one place: its state (as `vm
 * status` reads it), templates and the arguments they resolve to (with the
 * VM's environment; hooks are not run), its disks as `qemu-img info` sees
 * them, wait, autostart, log and hooks. Gathering reads `<vm>/` and runs
 * `qemu-img info -U` (safe while the VM runs). cli/core/info_text.ts shows it.
 * @module
 */

import { cloudInfo } from "../vm/cloud_info.ts";
import { isMissing } from "../os/fs.ts";
import type { Config } from "../vm/config.ts";
import { diskPaths } from "../qemu/drives.ts";
import { describe, SystemError } from "../errors.ts";
import { F } from "../layout.ts";
import { type ImageInfo, imageInfo } from "../qemu/img.ts";
import { type VmState, vmState } from "../vm/state.ts";
import type { Vm } from "../vm/inspect.ts";
import { parseTemplate } from "../vm/templates.ts";
import { vmEnv } from "../vm/dir.ts";
import { showDisk } from "../vm/disk_paths.ts";
import { firmwareEnv, type MachineInfo, machineInfo } from "../vm/machine.ts";
import { isArch } from "../qemu/arch.ts";

/** One template of `vm info`: its arguments, or why they cannot be read. */
export interface TemplateInfo {
  name: string;
  args: string[] | null;
  error?: string;
}

/** One disk of `vm info`. */
export interface DiskInfo {
  /** As shown: relative to the VM directory when inside it. */
  file: string;
  path: string;
  info: ImageInfo | null;
  error?: string;
}

/** The `vm info --json` object. */
export interface VmInfo {
  name: string;
  dir: string;
  state: VmState;
  autostart: boolean;
  wait_s: number;
  log: boolean;
  hooks: boolean;
  /** The guest agent channel (template guest-agent) and the SSH host port (ports file). */
  agent: boolean;
  ssh_port: number | null;
  /** The machine: arch, firmware, TPM (lib/vm/machine.ts). */
  arch: MachineInfo["arch"];
  firmware: MachineInfo["firmware"];
  tpm: MachineInfo["tpm"];
  templates: TemplateInfo[];
  disks: DiskInfo[];
}

/** Gathers the VmInfo of `vm` (see the module doc). */
export async function vmInfo(cfg: Config, vm: Vm): Promise<VmInfo> {
  const dir = vm.dir;
  const machine = machineInfo(vm, cfg);
  let env = vmEnv(cfg, dir);
  try {
    // The firmware's paths, as the start resolves them (missing firmware: the template says so).
    if (isArch(machine.arch)) env = { ...env, ...firmwareEnv(vm, machine.arch, env) };
  } catch (e) {
    if (!(e instanceof SystemError)) throw e;
  }
  const templates: TemplateInfo[] = [];
  let names: string[] = [];
  try {
    names = vm.templates;
  } catch (e) {
    if (!isMissing(e)) throw e; // no templates directory: none to show
  }
  for (const t of names) {
    try {
      const text = vm.templateText(t) ?? "";
      templates.push({ name: t, args: parseTemplate(text, `${F.templates}/${t}`, env) });
    } catch (e) {
      templates.push({ name: t, args: null, error: describe(e) });
    }
  }
  const disks: DiskInfo[] = [];
  for (const path of diskPaths(dir, templates.flatMap((t) => t.args ?? []))) {
    const file = showDisk(dir, path);
    try {
      disks.push({ file, path, info: await imageInfo(path) });
    } catch (e) {
      disks.push({ file, path, info: null, error: describe(e) });
    }
  }
  return {
    name: vm.name,
    dir,
    state: vmState(vm),
    autostart: vm.autostart,
    wait_s: vm.wait,
    log: vm.log,
    hooks: vm.hooks,
    ...cloudInfo(vm),
    ...machine,
    templates,
    disks,
  };
}
