/**
 * Units people type and read, one parser each: disk sizes in qemu-img's
 * syntax (`20G`, `512M`, `1.5T`, `512b`; powers of 1024, unit letters in
 * either case as qemu-img takes them), seconds (`5`, `2.5`), whole seconds
 * for a VM's power-off `wait`, line counts; and bytes as people read them.
 * Pure.
 * @module
 */

import { UsageError } from "../errors.ts";

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
  p: 2 ** 50,
  e: 2 ** 60,
};

const SIZE = /^([0-9]+(?:\.[0-9]+)?)([bkmgtpe]?)$/i;

/** Bytes of a size in qemu-img's syntax, or undefined when it is not one. Pure. */
export function sizeBytes(text: string): number | undefined {
  const m = SIZE.exec(text);
  if (m === null) return undefined;
  return Math.round(Number(m[1]) * (SIZE_UNITS[(m[2] ?? "").toLowerCase()] ?? 1));
}

/** Returns `size` when it is a size qemu-img takes; throws UsageError otherwise. Pure. */
export function checkSize(size: string, what = "Disk size"): string {
  if (sizeBytes(size) === undefined) {
    throw new UsageError(`${what} "${size}" is not a size; write e.g. "20G", "512M" or "1T"`);
  }
  return size;
}

/** A new size for `vm disk resize`: `+SIZE` grows, `SIZE` sets. */
export interface NewSize {
  grow: boolean;
  bytes: number;
  /** As given (passed on to qemu-img). */
  text: string;
}

/** Parses `+SIZE` or `SIZE`; throws UsageError otherwise. Pure. */
export function parseNewSize(text: string): NewSize {
  const grow = text.startsWith("+");
  const bytes = sizeBytes(grow ? text.slice(1) : text);
  if (bytes === undefined || (grow && bytes === 0)) {
    throw new UsageError(
      `Size "${text}" is not a size; write "+10G" to grow by 10 GiB, or "40G" for the new size`,
    );
  }
  return { grow, bytes, text };
}

/**
 * Bytes as people read them, in binary units: `512 B`, `16 MiB`, `1.2 GiB`;
 * `fixed`: always one decimal above bytes, so that a number that changes
 * keeps its width (progress lines, a SIZE column): `16.0 MiB`. Pure.
 */
export function formatBytes(n: number, fixed = false): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const round = i === 0 || (!fixed && (v >= 10 || Number.isInteger(v)));
  return `${round ? String(Math.round(v)) : v.toFixed(1)} ${units[i]}`;
}

/**
 * Seconds given to an option (`--timeout 5`, `--idle 0.5`); `option` and
 * `example` are for the message. Throws UsageError. Pure.
 */
export function parseSeconds(text: string, option: string, example = "5"): number {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text)) {
    throw new UsageError(`"${option}" needs seconds (e.g. ${example}), not "${text}"`);
  }
  return Number(text);
}

/** The largest power-off `wait` (one day): a stop of a deaf guest must end. */
export const MAX_WAIT_S = 86400;

/**
 * Whole seconds from 0 to `max` (a `wait`: at most MAX_WAIT_S), or undefined
 * when `text` is not such a whole number. Pure.
 */
export function parseWholeSeconds(text: string, max = MAX_WAIT_S): number | undefined {
  const t = text.trim();
  if (!/^[0-9]+$/.test(t)) return undefined;
  const n = Number(t);
  return n <= max ? n : undefined;
}

/** A count of lines (`-n 20`): a whole number >= 0. Throws UsageError. Pure. */
export function parseLineCount(text: string): number {
  if (!/^[0-9]+$/.test(text.trim())) {
    throw new UsageError(`Line count "${text}" is not a whole number; write e.g. "-n 20"`);
  }
  return Number(text.trim());
}

/** Seconds with one decimal, as vm reports how long something took: `2.4 s`. Pure. */
export function secondsText(s: number): string {
  return `${s.toFixed(1)} s`;
}
