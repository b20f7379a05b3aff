// Unit tests of what a stop says: `vm stop` of a VM whose
// QEMU never came up says so, an orphan's stop says it ran without runsv,
// and `vm __stop` logs "quit after N s" when QEMU went without the guest
// powering off; the message of a hook vm ended.

import assert from "node:assert/strict";
import type { StopResult } from "../../lib/actions/stop_result.ts";
import { killMessage, stopMessage } from "../../cli/commands/start_stop.ts";
import { guestShutdown, stopLine } from "../../lib/service/control_t.ts";
import { endedMessage } from "../../lib/vm/hooks.ts";

function stop(over: Partial<StopResult> = {}): StopResult {
  return { name: "x", already: false, seconds: 1.23, how: "poweroff", wait: 10, ...over };
}

Deno.test("stopMessage/killMessage: a VM that never got QEMU up, and an orphan", () => {
  assert.equal(stopMessage(stop({ how: "restart" })), '"x" was not running; stopped its restart');
  assert.equal(killMessage(stop({ how: "restart" })), '"x" was not running; stopped its restart');
  assert.equal(
    stopMessage(stop({ orphan: 77 })),
    'Stopped "x" in 1.2 s (guest powered off; QEMU (PID 77) ran without its runsv)',
  );
  assert.equal(
    killMessage(stop({ how: "kill", orphan: 77 })),
    'Killed "x" in 1.2 s (not graceful: QEMU got SIGKILL, the guest did not shut down; ' +
      "it ran without its runsv)",
  );
});

Deno.test("stopLine: powered off, told to quit, or quit by someone else after N s", () => {
  assert.equal(
    stopLine({ how: "poweroff", ms: 2345 }, 10),
    "stop: the guest powered off in 2.3 s",
  );
  assert.equal(
    stopLine({ how: "poweroff", ms: 12_345, agent: true }, 60),
    "stop: the guest powered off in 12.3 s; it was also asked through the guest agent " +
      "(ACPI went unanswered)",
  );
  assert.equal(
    stopLine({ how: "quit", ms: 10_100 }, 10),
    "stop: the guest did not power off within 10 s (wait); QEMU was told to quit",
  );
  assert.equal(
    stopLine({ how: "ended", ms: 29_600 }, 60),
    "stop: QEMU quit after 29.6 s; the guest had not powered off",
  );
  const ev = (data: unknown) => ({ event: "SHUTDOWN", data, receivedAt: 0 });
  assert.equal(guestShutdown([ev({ guest: true, reason: "guest-shutdown" })]), true);
  assert.equal(guestShutdown([ev({ guest: false, reason: "host-qmp-quit" })]), false);
  assert.equal(guestShutdown([]), false);
});

Deno.test("endedMessage: the bound or the signal that ended a hook", () => {
  assert.equal(
    endedMessage("pre_qemu", "bound", 10),
    "pre_qemu did not finish within 10 s (the VM's wait, at least 10 s); its processes were ended",
  );
  assert.equal(
    endedMessage("cleanup", "SIGTERM", 30),
    "cleanup was ended: vm got SIGTERM (the VM is being stopped)",
  );
});
