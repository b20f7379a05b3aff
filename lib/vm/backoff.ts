/**
 * The crash-loop backoff state of a VM: its `backoff` file (the current
 * delay, when it ends, quick deaths in a row), the rule for the next delay
 * (1, 2, 4 … 60 s after each QEMU that died within QUICK_DEATH_S seconds),
 * and the log line `vm __finish` writes before it sleeps one. The sleeping
 * itself is lib/service/finish.ts. Reads/writes `<vm>/backoff`.
 * @module
 */

import { join } from "../os/path.ts";
import { readTextIfExists, writeFileAtomic } from "../os/fs.ts";
import { F } from "../layout.ts";

/** A run shorter than this (seconds) counts as a crash on start. */
export const QUICK_DEATH_S = 10;
/** The longest delay (seconds). */
export const MAX_DELAY_S = 60;

/** The `backoff` file: the current delay, when it ends, and how many quick deaths in a row. */
export interface Backoff {
  /** Seconds of the current delay. */
  delay: number;
  /** Unix time (seconds) the delay ends. */
  until: number;
  /** Quick deaths in a row. */
  failures: number;
}

/**
 * The backoff after a run of `ranSeconds` that ended at `now`, given the
 * previous one; undefined when the run was long enough to reset it. Pure.
 */
export function nextBackoff(
  prev: Backoff | undefined,
  ranSeconds: number,
  now: number,
): Backoff | undefined {
  if (ranSeconds >= QUICK_DEATH_S) return undefined;
  const delay = prev === undefined ? 1 : Math.min(MAX_DELAY_S, prev.delay * 2);
  return { delay, until: now + delay, failures: (prev?.failures ?? 0) + 1 };
}

/** Parses a `backoff` file. Pure; undefined when it is not one. */
export function parseBackoff(text: string): Backoff | undefined {
  const [delay, until, failures] = text.trim().split(/\s+/).map(Number);
  if (delay === undefined || until === undefined || failures === undefined) return undefined;
  if (![delay, until, failures].every(Number.isFinite)) return undefined;
  return { delay, until, failures };
}

/** Reads `<dir>/backoff`. */
export function readBackoff(dir: string): Backoff | undefined {
  const text = readTextIfExists(join(dir, F.backoff));
  return text === undefined ? undefined : parseBackoff(text);
}

/** Writes `<dir>/backoff` atomically, or removes it when `b` is undefined. */
export function writeBackoff(dir: string, b: Backoff | undefined): void {
  const path = join(dir, F.backoff);
  if (b === undefined) {
    try {
      Deno.removeSync(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return;
  }
  writeFileAtomic(path, `${b.delay} ${b.until.toFixed(3)} ${b.failures}\n`);
}

/** What the finish step decided. */
export interface BackoffStep {
  /** Seconds QEMU ran. */
  ran: number;
  /** The backoff now in force, if any. */
  backoff?: Backoff;
}

const BACKOFF_LINE = "QEMU ended after ";

/**
 * The log line `vm __finish` writes before it sleeps a backoff: how long QEMU
 * ran, how it ended (runsv's exit code, or -1 and the signal), the delay. Pure.
 */
export function backoffLine(step: Required<BackoffStep>, code: string, signal: string): string {
  const how = code === "-1" ? `signal ${signal}` : `exit ${code}`;
  return `${BACKOFF_LINE}${
    step.ran.toFixed(1)
  } s (${how}); next start in ${step.backoff.delay} s ` +
    `(crash-loop backoff, ${step.backoff.failures} quick exit(s) in a row)`;
}

/**
 * Whether a log line (without timestamp) is one of {@link backoffLine}'s, as
 * `vm __finish` prints it: after the VM's name (`web: QEMU ended after …`). Pure.
 */
export function isBackoffLine(line: string): boolean {
  const i = line.indexOf(": ");
  return line.startsWith(BACKOFF_LINE) || (i > 0 && line.startsWith(BACKOFF_LINE, i + 2));
}
