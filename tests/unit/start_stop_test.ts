// The messages of vm start, stop, restart and kill (cli/commands/start_stop.ts) and
// the exit code of a command on several VMs (lib/actions/start_stop.ts).
// The commands themselves run in tests/e2e/lifecycle_test.ts.

import assert from "node:assert/strict";
import { failureExit } from "../../lib/actions/start_stop.ts";
import type { StopResult } from "../../lib/actions/stop_result.ts";
import {
  killMessage,
  restartMessage,
  startMessage,
  stopMessage,
} from "../../cli/commands/start_stop.ts";

function stop(over: Partial<StopResult> = {}): StopResult {
  return { name: "x", already: false, seconds: 1.23, how: "poweroff", wait: 10, ...over };
}

Deno.test("stopMessage: how long and why, graceful or not", () => {
  assert.equal(stopMessage(stop()), 'Stopped "x" in 1.2 s (guest powered off)');
  assert.equal(stopMessage(stop({ already: true })), '"x" is already down');
  assert.equal(
    stopMessage(stop({ how: "wait", seconds: 10.44 })),
    'Stopped "x" in 10.4 s (the guest did not power off within its wait of 10 s; ' +
      "QEMU was told to quit)",
  );
  assert.equal(
    stopMessage(stop({ how: "monitor", seconds: 2.3, forced: { by: "timeout", seconds: 2 } })),
    'Stopped "x" in 2.3 s (not graceful, not down within --timeout 2 s: QEMU quit through ' +
      "its monitor)",
  );
  assert.equal(
    stopMessage(stop({ how: "kill", seconds: 3.05, forced: { by: "force" } })),
    'Stopped "x" in 3.0 s (not graceful, --force: QEMU was killed (SIGKILL))',
  );
  assert.equal(
    stopMessage(stop({ how: "term", forced: { by: "force" } })),
    'Stopped "x" in 1.2 s (not graceful, --force: QEMU was terminated (SIGTERM))',
  );
  assert.equal(
    stopMessage(
      stop({ how: "gone", forced: { by: "timeout", seconds: 2 }, hungKilled: "finish" }),
    ),
    'Stopped "x" in 1.2 s (not down within --timeout 2 s; QEMU had exited; its hanging ' +
      "finish was ended)",
  );
});

Deno.test("start, restart and kill messages; the exit code counts failures up to 99", () => {
  assert.equal(
    startMessage({ name: "x", already: false, pid: 42, seconds: 0.84, status: "running" }),
    'Started "x" in 0.8 s (pid 42)',
  );
  // QEMU asked to wait (-S): started, and the message says so.
  assert.equal(
    startMessage({ name: "x", already: false, pid: 42, seconds: 0.3, status: "prelaunch" }),
    'Started "x" in 0.3 s (pid 42, prelaunch as its arguments ask)',
  );
  assert.equal(
    startMessage({ name: "x", already: true, pid: 42, seconds: 0, status: "running" }),
    '"x" is already running (pid 42)',
  );
  assert.equal(
    restartMessage(stop(), { name: "x", already: false, pid: 43, seconds: 0.5, status: "running" }),
    'Restarted "x" (stopped in 1.2 s, guest powered off; started in 0.5 s, pid 43)',
  );
  assert.equal(
    restartMessage(stop({ already: true }), {
      name: "x",
      already: false,
      pid: 43,
      seconds: 0.5,
      status: "running",
    }),
    'Restarted "x" (it was down; started in 0.5 s, pid 43)',
  );
  assert.equal(
    killMessage(stop({ how: "kill", seconds: 0.7 })),
    'Killed "x" in 0.7 s (not graceful: QEMU got SIGKILL, the guest did not shut down)',
  );
  assert.equal(killMessage(stop({ already: true })), '"x" is already down');
  assert.equal(failureExit(0), 0);
  assert.equal(failureExit(3), 3);
  assert.equal(failureExit(99), 99);
  assert.equal(failureExit(150), 99);
});
