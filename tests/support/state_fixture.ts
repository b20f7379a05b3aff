/**
 * Test support: a VmState as `vm list --json` reports a running VM, with
 * `over` replacing fields. Pure; not a test file.
 * @module
 */

import type { VmState } from "../../lib/vm/state.ts";

/** A running VM's state ("vm1", PID 4242, up 100 s, autostart on), `over` applied. */
export function runningState(over: Partial<VmState> = {}): VmState {
  return {
    name: "vm1",
    state: "run",
    pid: 4242,
    uptime_s: 100,
    autostart: true,
    wait_s: 10,
    want: "up",
    paused: false,
    backoff_s: null,
    linked_clones: [],
    problem: null,
    ...over,
  };
}
