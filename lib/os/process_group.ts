/**
 * Process groups: whether one still has a member, and ending one as a whole
 * (SIGTERM to every member, a grace period, then SIGKILL), which a shell
 * cannot be trusted with (dash refuses `kill -TERM -- -PID`). vm runs each
 * hook in its own group, so nothing a hook started outlives its bound.
 * Signals `-<pgid>`.
 * @module
 */

import { lastError, libc } from "./libc.ts";
import { signal } from "./proc.ts";
import { sleep } from "./poll.ts";

const EPERM = 1;

/** Whether process group `pgid` still has a member (kill(-pgid, 0); zombies count until reaped). */
export function groupAlive(pgid: number): boolean {
  if (pgid <= 1) return false;
  if (libc("process").kill(-pgid, 0) === 0) return true;
  return lastError().errno === EPERM;
}

/**
 * Ends process group `pgid`: SIGTERM (and SIGCONT, for stopped members) to
 * all of it, then, when a member is left after `graceMs`, SIGKILL. Returns
 * whether SIGKILL was needed. `gone` (default: the group has no member) says
 * when to stop waiting, e.g. once our own child is reaped.
 */
export async function endGroup(
  pgid: number,
  graceMs: number,
  gone: () => boolean = () => !groupAlive(pgid),
): Promise<boolean> {
  if (pgid <= 1) return false;
  signal(-pgid, "SIGTERM");
  signal(-pgid, "SIGCONT");
  const end = performance.now() + graceMs;
  while (performance.now() < end) {
    if (gone()) return false;
    await sleep(50);
  }
  if (gone()) return false;
  signal(-pgid, "SIGKILL");
  return true;
}
