// `vm stop`'s verdict is what `vm __stop` recorded, never
// a guess from how long the stop took; its countdown shows the VM's wait.
// The test guest powers off at once on the ACPI button, but the VM's cleanup
// hook takes 3 s, so runsv reports it down well after its wait of 2 s: the
// old guess said "did not power off within its wait".
// Slow (a quarter of a minute or more of guests): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { readOr, test, waitFor } from "../support/harness.ts";
import { GUEST_READY } from "../support/guest.ts";
import { CLEAR, onTerminal } from "../support/terminal.ts";

/** How long the busybox guest may take to boot under TCG on a loaded machine. */
const BOOT_MS = 90_000;

test("vm stop says what __stop recorded (on a terminal and a pipe); the countdown counts the VM's wait", async (t) => {
  const dir = await t.makeGuestVm("pw", { wait: 2 });
  Deno.writeTextFileSync(join(dir, "hooks"), "cleanup() { sleep 3; }\n", { mode: 0o600 });
  t.startRunsvdir();
  for (const round of ["terminal", "pipe"]) {
    const up = await t.vm(["start", "pw"]);
    assert.equal(up.code, 0, up.stderr);
    const log = join(dir, "guest.log");
    assert.ok(
      await waitFor(
        () => readOr(log).split(GUEST_READY).length > (round === "pipe" ? 2 : 1),
        BOOT_MS,
      ),
      readOr(log),
    );
    let text: string;
    if (round === "terminal") {
      const tty = await onTerminal(t, ["stop", "pw"]);
      assert.equal(tty.code, 0, tty.out);
      assert.ok(tty.out.includes(`${CLEAR}waiting for pw to power off… 0 s of 2`), tty.out);
      assert.doesNotMatch(tty.out, /of 12/, "the wait is the VM's, not the bound before forcing");
      // The guest is off and QEMU gone; the cleanup hook is what runsv waits for.
      assert.match(
        tty.out,
        /waiting for pw to power off… [2-9] s; QEMU has exited, its finish runs/,
      );
      text = tty.out.split(CLEAR).at(-1) ?? "";
    } else {
      const r = await t.vm(["stop", "pw"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "");
      assert.ok(!r.stdout.includes("\x1b") && !r.stdout.includes("\r"), r.stdout);
      text = r.stdout;
    }
    const m = /^Stopped "pw" in (\d+\.\d) s \(the guest powered off in (\d+\.\d) s\)\r?\n/.exec(
      text,
    );
    assert.ok(m, text);
    assert.ok(Number(m[1]) >= 3, `runsv reported it down after the 3 s cleanup: ${m[1]} s`);
    // The log says the same as the terminal.
    const current = readOr(join(dir, "log/main/current"));
    const logged = [...current.matchAll(/stop: the guest powered off in (\d+\.\d) s/g)];
    assert.equal(logged.length, round === "pipe" ? 2 : 1, current);
    assert.equal(logged.at(-1)?.[1], m[2], current);
  }
});
