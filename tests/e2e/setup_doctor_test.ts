// Set-up problems and the advice for an unsupervised VM: `vm doctor` names a VMDIR
// that does not exist, one without `.default` and one no vmd supervises, each with its
// fix and exit 1; `vm import tar` into a VMDIR without `.default` fails at once, before
// it reads the archive (its stdin is never closed here), naming the fix, and leaves
// nothing; `vm start` of a VM no runsv supervises names vmd, not a plain runsvdir.

import assert from "node:assert/strict";
import { join } from "node:path";
import { noVmdProblem } from "../../lib/actions/doctor.ts";
import { test } from "../support/harness.ts";
import { runPiped, spawnPiped } from "../support/piped.ts";

test("vm doctor names a missing VMDIR, .default and vmd; import needs .default first", async (t) => {
  const doctorOf = (vmdir: string) => runPiped(t.vmExe, ["doctor"], { ...t.env, VMDIR: vmdir });
  const fix = (vmdir: string) => `fix: VMDIR=${vmdir} ./install.sh (in the vm source)`;

  const gone = join(t.root, "gone");
  const none = await doctorOf(gone);
  assert.equal(none.code, 1, none.stderr);
  assert.equal(none.stdout, `VMDIR "${gone}" does not exist; ${fix(gone)}\n`);

  const bare = join(t.root, "bare");
  Deno.mkdirSync(bare, { mode: 0o700 });
  const empty = await doctorOf(bare);
  assert.equal(empty.code, 1, empty.stderr);
  assert.equal(
    empty.stdout,
    `"${bare}/.default" is missing (the templates and scripts every VM uses); ${fix(bare)}\n` +
      `${noVmdProblem(bare)}\n`,
  );

  // The import stops before reading a byte: its stdin stays open and it still ends.
  const child = spawnPiped(t.vmExe, ["import", "tar", "-", "web"], { ...t.env, VMDIR: bare });
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const done = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  const out = { code: done.code, stdout: dec.decode(done.stdout), stderr: dec.decode(done.stderr) };
  assert.equal(out.code, 111, out.stdout + out.stderr);
  assert.equal(
    out.stderr,
    `vm: fatal: "${bare}/.default" is missing (the templates and scripts every VM uses); ` +
      `set it up with: VMDIR=${bare} ./install.sh (in the vm source)\n`,
  );
  assert.deepEqual([...Deno.readDirSync(bare)], [], "nothing left in the VMDIR");

  // A VMDIR with .default but no vmd: that one problem; `vm start` says how to run vmd.
  assert.equal((await t.vm(["make", "web", "--disk", "1M", "-y"])).code, 0);
  const alone = await t.vm(["doctor"]);
  assert.equal(alone.code, 1);
  assert.equal(alone.stdout, `${noVmdProblem(t.vmdir)}\n`);
  const start = await t.vm(["start", "web"]);
  assert.equal(start.code, 111);
  assert.match(start.stderr, /start vmd with "vm daemon" .* "vm service install runit\|systemd"/);
  assert.doesNotMatch(start.stderr, /runsvdir/);
});
