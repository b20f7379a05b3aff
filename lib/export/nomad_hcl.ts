/**
 * A Nomad job (nomad.ts) written as an HCL job file, attributes aligned as
 * `nomad fmt` does. Strings are escaped for HCL: `\`, `"`, control
 * characters, and the template sequences `${` and `%{` (written `$${`,
 * `%%{`). Pure: no I/O. Area lib/export, at the level of actions.
 * @module
 */

import type { NomadJob } from "./nomad.ts";

/** An HCL value: string, number, bool or list of those. */
type HclValue = string | number | boolean | readonly HclValue[];

/** A block: `type "label" { attributes… blocks… }`. */
interface HclBlock {
  type: string;
  labels: string[];
  attrs: [string, HclValue][];
  blocks: HclBlock[];
}

/** `s` as an HCL quoted string. Pure. */
export function hclString(s: string): string {
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === "\\") out += "\\\\";
    else if (ch === '"') out += '\\"';
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  // (A function as replacement: in a replacement string "$$" would mean one "$".)
  return `"${out.replace(/([$%])\{/g, (_m, c: string) => `${c}${c}{`)}"`;
}

function value(v: HclValue): string {
  if (typeof v === "string") return hclString(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return `[${v.map(value).join(", ")}]`;
}

function render(b: HclBlock, indent: string): string[] {
  const head = [b.type, ...b.labels.map(hclString)].join(" ");
  const inner = indent + "  ";
  const width = Math.max(0, ...b.attrs.map(([k]) => k.length));
  const lines = [`${indent}${head} {`];
  for (const [k, v] of b.attrs) lines.push(`${inner}${k.padEnd(width)} = ${value(v)}`);
  b.blocks.forEach((c, i) => {
    if (i > 0 || b.attrs.length > 0) lines.push("");
    lines.push(...render(c, inner));
  });
  lines.push(`${indent}}`);
  return lines;
}

function block(
  type: string,
  labels: string[],
  attrs: [string, HclValue][],
  blocks: HclBlock[] = [],
): HclBlock {
  return { type, labels, attrs, blocks };
}

/** The task's `config` block. */
function configBlock(job: NomadJob): HclBlock {
  const c = job.config;
  const attrs: [string, HclValue][] = [["image_path", job.imagePath]];
  if (c.machineType !== undefined) attrs.push(["machine_type", c.machineType]);
  if (c.driveInterface !== undefined) attrs.push(["drive_interface", c.driveInterface]);
  attrs.push(
    ["accelerator", c.accelerator],
    ["graceful_shutdown", true],
    ["guest_agent", c.guestAgent],
    ["args", c.args],
  );
  const portMap = job.ports.map((p): [string, HclValue] => [p.label, p.guest]);
  return block("config", [], attrs, portMap.length > 0 ? [block("port_map", [], portMap)] : []);
}

/** The job as the text of an HCL job file. Pure. */
export function nomadHcl(job: NomadJob): string {
  const artifacts = job.artifacts.map((a) =>
    block(
      "artifact",
      [],
      [["source", a.source], ["destination", a.destination], ["mode", "file"]],
      a.checksum === undefined ? [] : [block("options", [], [["checksum", a.checksum]])],
    )
  );
  const task = block("task", [job.name], [
    ["driver", "qemu"],
    ["kill_timeout", `${job.killTimeoutS}s`],
  ], [
    ...artifacts,
    configBlock(job),
    block("resources", [], [["memory", job.config.memoryMb], ["cores", job.config.cores]]),
  ]);
  const network = job.ports.length === 0 ? [] : [
    block(
      "network",
      [],
      [],
      job.ports.map((p) => block("port", [p.label], [["static", p.static]])),
    ),
  ];
  const group = block("group", [job.name], [["count", 1]], [...network, task]);
  const root = block("job", [job.name], [["datacenters", [job.datacenter]], ["type", "service"]], [
    group,
  ]);
  return render(root, "").join("\n") + "\n";
}
