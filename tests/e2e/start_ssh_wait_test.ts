// `vm start <vm> --ssh` shows on a terminal what it waits
// for and for how long, `--timeout` bounds the wait, and a failed wait says
// what was seen last and the one next step; quiet on a pipe. VMs made with
// --image from a blank disk: the firmware finds nothing to boot ("No bootable
// device.": the wait ends at once), or the busybox test
// guest boots by -kernel, talks on its serial console, and never opens SSH.
// Slow (several boots): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { quoteWords } from "../../lib/text/shell_words.ts";
import { run, test, type TestEnv, waitFor } from "../support/harness.ts";
import { guestArgs, testGuest } from "../support/guest.ts";
import { readStatus } from "../../lib/runit/status.ts";
import { CLEAR, onTerminal } from "../support/terminal.ts";

/** Makes `name` from a blank 16 MiB image (SSH set up, nothing to boot) with more `templates`. */
async function blankVm(t: TestEnv, name: string, templates: string): Promise<string> {
  const image = join(t.root, "blank.qcow2");
  await run("qemu-img", ["create", "-q", "-f", "qcow2", image, "16M"]);
  const r = await t.vm([
    "make",
    name,
    "-y",
    "--image",
    image,
    "--disk",
    "16M",
    "--templates",
    templates,
  ]);
  assert.equal(r.code, 0, r.stderr);
  return t.dir(name);
}

/** The lines the wait line drew (between its redraws), and the rest. */
function drawn(out: string): string[] {
  return out.split(CLEAR).slice(1).map((s) => s.replace(/\r\n[^]*$/, ""));
}

test("a disk that does not boot ends the wait at once with the firmware's words; stages and seconds on a terminal, one line on a pipe", async (t) => {
  const dir = await blankVm(t, "web", "+serial-console");
  // No network boot ROM: SeaBIOS tries the disk, the CD-ROM (the seed) and says so.
  const net = join(dir, "templates/net-user-fwd");
  Deno.writeTextFileSync(
    net,
    Deno.readTextFileSync(net).replace(/(-device virtio-net-pci,[^\n]*)/, "$1,romfile="),
  );
  t.startRunsvdir();
  assert.ok(await waitFor(() => readStatus(dir) !== undefined, 8000));
  const t0 = performance.now();
  const tty = await onTerminal(t, ["start", "web", "--ssh", "--timeout", "200"]);
  const took = (performance.now() - t0) / 1000;
  assert.equal(tty.code, 1, tty.out);
  assert.ok(took < 150, `the wait ended at the firmware's words, not at --timeout: ${took} s`);
  const lines = drawn(tty.out);
  assert.equal(lines[0], "web (0 s of 200): starting QEMU", tty.out);
  assert.ok(
    lines.some((l) => /^web \([1-9]\d* s of 200\): QEMU up; waiting for the guest/.test(l)),
    tty.out,
  );
  assert.match(
    tty.out.split(CLEAR).at(-1) ?? "",
    /^vm: fatal: VM "web" cannot boot: its screen says "No bootable device\." after \d+ s \(the firmware found nothing to boot on its disks, CD-ROM or network\); see its screen with "vm vnc web"\r\nrc=1\r\n$/,
  );
  // The VM is left running: "vm vnc web" shows that screen.
  assert.equal(readStatus(dir)?.state, "run");

  assert.equal((await t.vm(["kill", "web"])).code, 0);
  const piped = await t.vm(["start", "web", "--ssh", "--timeout", "200"]);
  assert.equal(piped.code, 1, piped.stderr);
  assert.equal(piped.stdout, "");
  assert.match(
    piped.stderr,
    /^vm: fatal: VM "web" cannot boot: its screen says "No bootable device\." after \d+ s [ -~]*"vm vnc web"\n$/,
  );
  const bad = await t.vm(["start", "web", "--ssh", "--timeout", "soon"]);
  assert.equal(bad.code, 100);
  assert.equal(bad.stderr, 'vm: fatal: "--timeout" needs seconds (e.g. 300), not "soon"\n');
});

test("a guest that boots but never opens SSH: --timeout, the serial console's last line, vm console as the next step", async (t) => {
  const dir = await blankVm(t, "talk", "-* +serial-console +drive");
  const guest = await testGuest();
  Deno.writeTextFileSync(join(dir, "templates/guest"), quoteWords(guestArgs(guest)) + "\n");
  t.startRunsvdir();
  assert.ok(await waitFor(() => readStatus(dir) !== undefined, 8000));
  const tty = await onTerminal(t, ["start", "talk", "--ssh", "--timeout", "45"]);
  assert.equal(tty.code, 1, tty.out);
  const lines = drawn(tty.out);
  assert.ok(
    lines.some((l) => /^talk \(\d+ s of 45\): the guest is booting: "[^"]+"/.test(l)),
    tty.out,
  );
  const last = tty.out.split(CLEAR).at(-1) ?? "";
  assert.match(
    last,
    /^vm: fatal: VM "talk" did not answer SSH on 127\.0\.0\.1:2222 within 45 s; last seen: nothing answered on its port 22, its serial console's last line: "[ !#-~]+"; watch its serial console with "vm console talk"\r\nrc=1\r\n$/,
  );
  // The console is free again once the wait is over.
  const c = await t.vm(["console", "talk"], { stdin: "echo hi-$((6*7))\n" });
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /hi-42/);
});
