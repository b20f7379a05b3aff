// Crash-loop backoff (lib/backoff.ts): the delays, the `backoff` file, and
// what runsv's status decides (a real supervise/status record, written here).

import assert from "node:assert/strict";
import { join } from "node:path";
import { type Status } from "../../lib/runit/status.ts";
import {
  backoffLine,
  isBackoffLine,
  MAX_DELAY_S,
  nextBackoff,
  parseBackoff,
  QUICK_DEATH_S,
  readBackoff,
  writeBackoff,
} from "../../lib/vm/backoff.ts";
import { recordExit, sleepBackoff } from "../../lib/service/finish.ts";
import { withTempDir } from "../support/temp_dir.ts";
import { encodeStatus } from "../support/runit_status.ts";

Deno.test("nextBackoff: 1, 2, 4 … capped at 60 s after quick deaths; forgotten after a long run", () => {
  let b = nextBackoff(undefined, 0.3, 1000);
  assert.deepEqual(b, { delay: 1, until: 1001, failures: 1 });
  const delays = [1];
  for (let i = 0; i < 8; i++) {
    b = nextBackoff(b, 0.3, 2000);
    delays.push(b?.delay ?? 0);
  }
  assert.deepEqual(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
  assert.equal(b?.failures, 9);
  assert.equal(MAX_DELAY_S, 60);
  assert.equal(nextBackoff(b, QUICK_DEATH_S, 3000), undefined, "ran long enough: reset");
  assert.equal(nextBackoff(b, QUICK_DEATH_S - 0.1, 3000)?.delay, 60);
});

Deno.test("parseBackoff: the file's three numbers, or nothing", () => {
  assert.deepEqual(parseBackoff("4 1700000000.250 3\n"), {
    delay: 4,
    until: 1700000000.25,
    failures: 3,
  });
  assert.equal(parseBackoff(""), undefined);
  assert.equal(parseBackoff("4 x 3"), undefined);
  assert.equal(parseBackoff("4 5"), undefined);
});

function writeStatus(dir: string, s: Partial<Status>): void {
  Deno.mkdirSync(join(dir, "supervise"), { recursive: true });
  Deno.writeFileSync(
    join(dir, "supervise/status"),
    encodeStatus({
      since: 0,
      pid: 0,
      paused: false,
      want: "up",
      gotTerm: false,
      state: "finish",
      ...s,
    }),
  );
}

Deno.test("recordExit: backs off only a quick death while wanted up; a long run resets", async () => {
  await withTempDir((dir) => {
    writeStatus(dir, { since: 1000, want: "up" });
    assert.deepEqual(recordExit(dir, 1000.5), {
      ran: 0.5,
      backoff: { delay: 1, until: 1001.5, failures: 1 },
    });
    assert.equal(recordExit(dir, 1002).backoff?.delay, 2);
    assert.deepEqual(readBackoff(dir), { delay: 2, until: 1004, failures: 2 });
    // Wanted down (sv down, sv once, vmd stopping): no backoff, file removed.
    writeStatus(dir, { since: 1000, want: "down" });
    assert.equal(recordExit(dir, 1001).backoff, undefined);
    assert.equal(readBackoff(dir), undefined);
    // A run of QUICK_DEATH_S or more resets it.
    writeStatus(dir, { since: 1000, want: "up" });
    recordExit(dir, 1001);
    assert.equal(readBackoff(dir)?.delay, 1);
    assert.equal(recordExit(dir, 1000 + QUICK_DEATH_S).backoff, undefined);
    assert.equal(readBackoff(dir), undefined);
  });
});

Deno.test("sleepBackoff: sleeps while wanted up; ends within 200 ms and forgets when not", async () => {
  await withTempDir(async (dir) => {
    writeStatus(dir, { want: "up" });
    let t0 = performance.now();
    assert.equal(await sleepBackoff(dir, Date.now() / 1000 + 0.5), true);
    assert.ok(performance.now() - t0 >= 450);

    writeBackoff(dir, { delay: 30, until: Date.now() / 1000 + 30, failures: 5 });
    t0 = performance.now();
    const sleeping = sleepBackoff(dir, Date.now() / 1000 + 30);
    setTimeout(() => writeStatus(dir, { want: "down" }), 300);
    assert.equal(await sleeping, false);
    const ms = performance.now() - t0;
    assert.ok(ms >= 300 && ms < 300 + 400, `${ms} ms`);
    assert.equal(readBackoff(dir), undefined, "a later start backs off from 1 s again");
  });
});

Deno.test("backoffLine: how long QEMU ran, how it ended, the delay; isBackoffLine knows it", () => {
  const step = { ran: 0.25, backoff: { delay: 4, until: 0, failures: 3 } };
  const exit = backoffLine(step, "1", "0");
  assert.equal(
    exit,
    "QEMU ended after 0.3 s (exit 1); next start in 4 s (crash-loop backoff, 3 quick exit(s) in a row)",
  );
  assert.match(backoffLine(step, "-1", "9"), /\(signal 9\)/);
  assert.ok(isBackoffLine(exit));
  // As vm __finish prints it: after the VM's name.
  assert.ok(isBackoffLine(`web: ${exit}`));
  assert.ok(!isBackoffLine("web: fatal: QEMU ended after a while"));
  assert.ok(!isBackoffLine("vm: fatal: templates/evil:1: Command substitution"));
});
