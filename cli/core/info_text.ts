/**
 * What `vm info` prints (lib/actions/info.ts gathers it): the VM's state,
 * settings, templates with their arguments, and one line per disk. Pure.
 * @module
 */

import type { DiskInfo, VmInfo } from "../../lib/actions/info.ts";
import { CLOUD_TEMPLATES, F, ONCE_TEMPLATE } from "../../lib/layout.ts";
import { dataFileOf } from "../../lib/qemu/image_check.ts";
import { quoteWords } from "../../lib/text/shell_words.ts";
import { formatBytes } from "../../lib/text/units.ts";
import { humanDuration } from "./format.ts";
import { stateLabel } from "./state_table.ts";

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
    `agent:      ${v.agent ? `yes (${CLOUD_TEMPLATES.agent} template: "vm ip", "vm exec")` : "no"}`,
    `arch:       ${v.arch}`,
    `firmware:   ${v.firmware}`,
    `tpm:        ${v.tpm ? "yes (swtpm, its state in tpm/)" : "no"}`,
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
