// What a start waits for and says when it fails: the QMP states that count
// as started (lib/qemu/qmp_status.ts), the log lines since the start
// (lib/vm/log.ts), and the fatal text with them (cli/core/output.ts).

import assert from "node:assert/strict";
import { isStarted } from "../../lib/qemu/qmp_status.ts";
import { logLinesSince } from "../../lib/vm/log.ts";
import { fatalText } from "../../cli/core/output.ts";
import { StartFailedError, SystemError } from "../../lib/errors.ts";
import { lastLogLine } from "../support/log_lines.ts";

Deno.test("isStarted: running; prelaunch, inmigrate, paused only when the arguments ask", () => {
  assert.ok(isStarted("running", ["qemu"]));
  assert.ok(!isStarted("prelaunch", ["qemu", "-m", "1G"]));
  assert.ok(!isStarted("paused", ["qemu"]));
  assert.ok(isStarted("prelaunch", ["qemu", "-S"]));
  assert.ok(isStarted("paused", ["qemu", "-S"]));
  assert.ok(isStarted("inmigrate", ["qemu", "-incoming", "defer"]));
  assert.ok(!isStarted("internal-error", ["qemu", "-S"]));
  assert.ok(!isStarted("shutdown", ["qemu"]));
});

const SINCE = Date.parse("2024-05-01T10:00:05Z") / 1000;

Deno.test("logLinesSince: only this start's lines, timestamps and backoff lines removed", () => {
  const log = [
    "2024-05-01_10:00:00.10000 audio: Could not init `pa' audio driver",
    "2024-05-01_10:00:01.00000 web: QEMU ended after 0.1 s (exit 1); next start in 1 s",
    "2024-05-01_10:00:05.30000 qemu-system-x86_64: -display gtk: gtk initialization failed",
    "2024-05-01_10:00:05.40000 web: QEMU ended after 0.1 s (exit 1); next start in 2 s",
    "",
  ].join("\n");
  assert.deepEqual(logLinesSince(log, SINCE, 5), [
    "qemu-system-x86_64: -display gtk: gtk initialization failed",
  ]);
  assert.deepEqual(logLinesSince(log, -Infinity, 1), [
    "qemu-system-x86_64: -display gtk: gtk initialization failed",
  ]);
  assert.equal(logLinesSince(log, -Infinity, 5).length, 2);
  assert.deepEqual(logLinesSince(log, SINCE + 60, 5), []);
  // TAI64N stamps (svlogd -t) too; lines without a stamp always count.
  const tai = (unix: number) => `@${(2n ** 62n + BigInt(unix) + 10n).toString(16)}00000000`;
  assert.deepEqual(logLinesSince(`${tai(SINCE - 10)} old\n${tai(SINCE)} new\nbare\n`, SINCE, 5), [
    "new",
    "bare",
  ]);
  assert.equal(lastLogLine(log), "qemu-system-x86_64: -display gtk: gtk initialization failed");
});

Deno.test("fatalText: one line; a failed start's log lines under it when they say more", () => {
  assert.equal(fatalText(new SystemError("x broke")), "vm: fatal: x broke");
  const one = new StartFailedError('VM "a" did not start: …; its log ends: boom', ["boom"]);
  assert.equal(fatalText(one), 'vm: fatal: VM "a" did not start: …; its log ends: boom');
  const two = new StartFailedError('VM "a" did not start: …; its log ends: boom', ["why", "boom"]);
  assert.equal(
    fatalText(two),
    'vm: fatal: VM "a" did not start: …; its log ends: boom\n    why\n    boom',
  );
  assert.equal(two.exitCode, 1);
});
