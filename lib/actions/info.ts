/**
 * `vm info`: everything about one VM in one place: its state (as `vm
 * status` reads it), templates and the arguments they resolve to (with the
 * VM's environment; hooks are not run), its disks as `qemu-img info` sees
 * them, wait, autostart, log and hooks. Gathering reads `<vm>/` and runs
 * `qemu-img info -U` (safe while the VM runs); formatting is pure.
 * @module
 */

import { cloudInfo } from "../vm/cloud_info.ts";
import { isMissing } from "../os/fs.ts";
import type { Config } from "../vm/config.ts";
import { diskPaths } from "../qemu/drives.ts";
import { describe } from "../errors.ts";
import { F, ONCE_TEMPLATE } from "../layout.ts";
import { type ImageInfo, imageInfo } from "../qemu/img.ts";
import { dataFileOf } from "../qemu/image_check.ts";
import { quoteWords } from "../text/shell_words.ts";
import { humanDuration, stateLabel, type VmState, vmState } from "../vm/state.ts";
import type { Vm } from "../vm/inspect.ts";
import { parseTemplate } from "../vm/templates.ts";
import { formatBytes } from "../text/units.ts";
import { vmEnv } from "../vm/dir.ts";
import { showDisk } from "../vm/disk_paths.ts";

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
  templates: TemplateInfo[];
  disks: DiskInfo[];
}

/** Gathers the VmInfo of `vm` (see the module doc). */
export async function vmInfo(cfg: Config, vm: Vm): Promise<VmInfo> {
  const dir = vm.dir;
  const env = vmEnv(cfg, dir);
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
    templates,
    disks,
  };
}

/** One line describing a disk: format, sizes, backing file, snapshots. Pure. */
export function diskLine(d: DiskInfo): string {
  if (d.info === null) return `${d.file}: ${d.error ?? "cannot be read"}`;
  const i = d.info;
  const parts = [i.format, `${formatBytes(i["virtual-size"])} virtual`];
  if (i["actual-size"] !== undefined) parts.push(`${formatBytes(i["actual-size"])} on disk`);
  if (i["backing-filename"] !== undefined) parts.push(`backing file "${i["backing-filename"]}"`);
  const dataFile = dataFileOf(i);
  if (dataFile !== undefined) parts.push(`external data file "${dataFile}"`);
  const snaps = i.snapshots?.length ?? 0;
  if (snaps > 0) parts.push(`${snaps} snapshot${snaps === 1 ? "" : "s"}`);
  return `${d.file}: ${parts.join(", ")}`;
}

/** The text `vm info` prints. Pure. */
export function formatInfo(v: VmInfo): string {
  const s = v.state;
  let state = stateLabel(s);
  if (s.pid !== null) {
    state += s.uptime_s === null
      ? ` (PID ${s.pid})`
      : ` (PID ${s.pid}, up ${humanDuration(s.uptime_s)})`;
  }
  if (s.problem !== null) state += `: ${s.problem}`;
  const lines = [
    `name:       ${v.name}`,
    `directory:  ${v.dir}`,
    `state:      ${state}`,
    `autostart:  ${v.autostart ? "yes" : `no ("${F.down}" exists)`}`,
    `wait:       ${v.wait_s} s`,
    `log:        ${v.log ? `on (${F.logCurrent})` : "off"}`,
    `hooks:      ${v.hooks ? `yes (${F.hooks}; not run here: "vm args" runs pre_qemu)` : "no"}`,
    `agent:      ${v.agent ? 'yes (guest-agent template: "vm ip", "vm exec")' : "no"}`,
    `ssh:        ${v.ssh_port === null ? "no" : `127.0.0.1:${v.ssh_port} ("vm ssh ${v.name}")`}`,
    "templates:",
  ];
  const width = Math.max(0, ...v.templates.map((t) => t.name.length));
  if (v.templates.length === 0) lines.push("  (none)");
  for (const t of v.templates) {
    const text = t.args === null ? `error: ${t.error}` : quoteWords(t.args);
    const note = t.name === ONCE_TEMPLATE ? "  (next start only)" : "";
    lines.push(`  ${t.name.padEnd(width)}  ${text}${note}`);
  }
  lines.push("disks:");
  if (v.disks.length === 0) lines.push("  (none)");
  for (const d of v.disks) lines.push(`  ${diskLine(d)}`);
  return lines.join("\n");
}
