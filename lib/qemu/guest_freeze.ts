/**
 * The guest's file systems frozen for a moment (a backup point): through
 * the guest agent (`guest-fsfreeze-freeze`), when the VM has its channel and
 * the agent answers; always thawed afterwards (`guest-fsfreeze-thaw`, then
 * `guest-fsfreeze-status` until it says `thawed`, a few tries), whether the
 * work succeeded or not. A guest without an agent is not frozen (the work
 * still runs: a crash-consistent point). Talks to `<vm>/supervise/agent`.
 * @module
 */

import { CheckFailedError, describe, SystemError } from "../errors.ts";
import { F } from "../layout.ts";
import { join } from "../os/path.ts";
import { exists } from "../os/fs.ts";
import { GuestAgent, NoAgentError } from "./guest_agent.ts";

/** How long a freeze or a thaw may take (the guest flushes its caches first). */
export const FREEZE_MS = 30_000;

/** How often a thaw is tried before giving up. */
const THAW_TRIES = 3;

/** What the freeze came to. */
export interface Frozen<T> {
  /** What the work returned. */
  value: T;
  /** Whether the guest's file systems were frozen while it ran. */
  frozen: boolean;
  /** Lines to show: why not frozen, a thaw that failed. */
  notes: string[];
}

/** Whether an agent error is one of those the agent's answers (or silence) give. */
function agentError(e: unknown): e is CheckFailedError | SystemError {
  return e instanceof CheckFailedError || e instanceof SystemError;
}

/** Thaws the guest and checks it is thawed; returns the error of the last try, or undefined. */
async function thaw(agent: GuestAgent, timeoutMs: number): Promise<string | undefined> {
  let last = "";
  for (let i = 0; i < THAW_TRIES; i++) {
    try {
      await agent.execute("guest-fsfreeze-thaw", undefined, timeoutMs);
      const status = await agent.execute("guest-fsfreeze-status", undefined, timeoutMs);
      if (status === "thawed") return undefined;
      last = `the agent says "${String(status)}"`;
    } catch (e) {
      if (!agentError(e)) throw e;
      last = describe(e);
    }
  }
  return last;
}

/**
 * Runs `work` with the file systems of VM `name` (directory `dir`) frozen
 * when its agent answers, and thaws them afterwards whatever happened
 * (`work`'s error is passed on once they are thawed). Throws what `work`
 * throws.
 */
export async function withFrozenGuest<T>(
  dir: string,
  name: string,
  work: () => Promise<T>,
  timeoutMs = FREEZE_MS,
): Promise<Frozen<T>> {
  const notes: string[] = [];
  let agent: GuestAgent | undefined;
  if (exists(join(dir, F.agent))) {
    try {
      agent = await GuestAgent.connect(dir, name, 1000);
    } catch (e) {
      if (!(e instanceof NoAgentError)) throw e;
      notes.push("not frozen: no guest agent answers");
    }
  }
  let frozen = false;
  let thawNeeded = false;
  try {
    if (agent !== undefined) {
      try {
        await agent.execute("guest-fsfreeze-freeze", undefined, timeoutMs);
        frozen = true;
        thawNeeded = true;
      } catch (e) {
        if (!agentError(e)) throw e;
        notes.push(`not frozen: ${describe(e)}`);
        // A freeze that timed out may still happen in the guest: thawed below all the same.
        thawNeeded = e instanceof SystemError;
      }
    }
    const value = await work();
    return { value, frozen, notes };
  } finally {
    if (agent !== undefined) {
      try {
        if (thawNeeded) {
          const failed = await thaw(agent, timeoutMs);
          if (failed !== undefined) {
            notes.push(
              `the guest's file systems may still be frozen: thaw failed (${failed}); ` +
                `thaw them in the guest (fsfreeze -u, or the agent's guest-fsfreeze-thaw)`,
            );
          }
        }
      } finally {
        agent.close();
      }
    }
  }
}
