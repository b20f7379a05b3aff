/**
 * How `vm list`, `vm status` and `vm info` show a VM's state
 * (lib/vm/state.ts): the STATE label, the `vm list` table, the `vm status`
 * block, and the one place colours are chosen (ANSI escapes, only when asked
 * for: a terminal without NO_COLOR). Pure.
 * @module
 */

import type { VmState } from "../../lib/vm/state.ts";
import { alignColumns, humanDuration } from "./format.ts";

/** What the STATE column adds for the base of linked clones: `, base`. Pure. */
function baseLabel(s: VmState): string {
  return s.linked_clones.length > 0 ? ", base" : "";
}

/** The STATE column: the state, plus what runsv wants when that differs. Pure. */
export function stateLabel(s: VmState): string {
  if (s.state === "backoff") return `backoff ${s.backoff_s}s`;
  let label: string = s.state;
  if (s.paused) label += ", paused";
  if (s.want === "up" && s.state !== "run") label += ", want up";
  if (s.want === "down" && s.state === "run") label += ", want down";
  return label;
}

const ANSI = { green: "\x1b[32m", yellow: "\x1b[33m", red: "\x1b[31m", reset: "\x1b[0m" };

/** The colour of a state: run green, finish/backoff yellow, unsupervised/orphan/unsafe red, down none. Pure. */
function stateColor(s: VmState): string {
  switch (s.state) {
    case "run":
      return s.paused || s.want === "down" ? ANSI.yellow : ANSI.green;
    case "finish":
    case "backoff":
      return ANSI.yellow;
    case "unsupervised":
    case "orphan":
    case "unsafe":
      return ANSI.red;
    case "down":
      return s.want === "up" ? ANSI.yellow : "";
  }
}

function paint(text: string, color: string, on: boolean): string {
  return on && color !== "" ? color + text + ANSI.reset : text;
}

/** The columns of `vm list`, as text, for one VM. Pure. */
function tableRow(s: VmState): string[] {
  return [
    s.name,
    stateLabel(s) + baseLabel(s),
    s.pid === null ? "-" : String(s.pid),
    s.uptime_s === null ? "-" : humanDuration(s.uptime_s),
    s.autostart ? "on" : "off",
    `${s.wait_s}s`,
  ];
}

/** The header of `vm list`. */
export const TABLE_HEADER = ["NAME", "STATE", "PID", "UPTIME", "AUTOSTART", "WAIT"] as const;

/**
 * The `vm list` table: a header and one line per VM, columns separated by
 * two spaces, the STATE coloured when `color` is true. Pure.
 */
export function formatTable(states: readonly VmState[], color = false): string {
  return alignColumns([[...TABLE_HEADER], ...states.map(tableRow)], (cell, row, column) => {
    const s = states[row - 1];
    return column === 1 && s !== undefined ? paint(cell, stateColor(s), color) : cell;
  });
}

/** Uptime for `vm status`: human, with the exact seconds from a minute on. Pure. */
function uptimeText(seconds: number): string {
  return seconds < 60 ? humanDuration(seconds) : `${humanDuration(seconds)} (${seconds} s)`;
}

/**
 * The `vm status` block of one VM: its name, then one indented `field: value`
 * line per field (the same fields as `vm list`). Pure.
 */
export function formatStatus(s: VmState, color = false): string {
  const lines: [string, string][] = [
    ["state", paint(stateLabel(s), stateColor(s), color)],
    ["pid", s.pid === null ? "-" : String(s.pid)],
    ["uptime", s.uptime_s === null ? "-" : uptimeText(s.uptime_s)],
    ["autostart", s.autostart ? "on (starts with vmd)" : "off"],
    ["wait", `${s.wait_s} s`],
  ];
  if (s.want !== null) lines.push(["want", s.want]);
  if (s.linked_clones.length > 0) {
    lines.push([
      "base of",
      `${s.linked_clones.join(", ")} (linked clones: start it with --force only)`,
    ]);
  }
  if (s.problem !== null) lines.push(["problem", s.problem]);
  return [s.name, ...lines.map(([k, v]) => `  ${(k + ":").padEnd(11)}${v}`)].join("\n");
}
