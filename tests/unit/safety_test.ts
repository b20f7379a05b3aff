// Unit tests of lib/vm/safety.ts and the `unsafe`/`orphan` states of
// lib/vm/state.ts: which files make a VM unsafe to
// run, the one line naming each with its fix, and how list/status show it.

import assert from "node:assert/strict";
import { join } from "node:path";
import { modeProblem, problemLine, vmProblems } from "../../lib/vm/safety.ts";
import { deriveState, type StateInput, vmState } from "../../lib/vm/state.ts";
import { formatStatus, formatTable } from "../../cli/core/state_table.ts";
import { inspectDir } from "../../lib/vm/inspect.ts";
import { withTempDir } from "../support/temp_dir.ts";

const info = (mode: number, uid = 1000) => ({ mode, uid });

Deno.test("modeProblem: group/other-writable or someone else's is a problem; root's is not", () => {
  assert.equal(modeProblem("/v/a", info(0o40700), 1000), undefined);
  assert.equal(modeProblem("/v/a", info(0o100755, 0), 1000), undefined);
  const other = modeProblem("/v/a b/hooks", info(0o100666), 1000);
  assert.deepEqual(other, {
    file: "/v/a b/hooks",
    why: "is writable by others (mode 0666)",
    fix: "chmod go-w '/v/a b/hooks'",
  });
  assert.equal(
    problemLine(other!),
    `"/v/a b/hooks" is writable by others (mode 0666); fix: chmod go-w '/v/a b/hooks'`,
  );
  assert.equal(
    modeProblem("/v/a", info(0o40770), 1000)?.why,
    "is writable by its group (mode 0770)",
  );
  assert.equal(
    problemLine(modeProblem("/v/a", info(0o40700, 1001), 1000)!),
    `"/v/a" is owned by uid 1001, not by uid 1000 who runs the VM; fix: chown 1000 /v/a`,
  );
});

/** A VM directory as vm make leaves it, with `.default` scripts to link to. */
function vmDir(vmdir: string, name: string): string {
  const def = join(vmdir, ".default");
  Deno.mkdirSync(join(def, "control"), { recursive: true, mode: 0o700 });
  for (const s of ["run", "finish", "control/t"]) {
    Deno.writeTextFileSync(join(def, s), "#!/bin/sh\n", { mode: 0o700 });
  }
  const dir = join(vmdir, name);
  Deno.mkdirSync(join(dir, "templates"), { recursive: true, mode: 0o700 });
  Deno.mkdirSync(join(dir, "control"), { mode: 0o700 });
  Deno.symlinkSync("../.default/run", join(dir, "run"));
  Deno.symlinkSync("../.default/finish", join(dir, "finish"));
  Deno.symlinkSync("../../.default/control/t", join(dir, "control/t"));
  Deno.writeTextFileSync(join(dir, "templates", "mem"), "-m 1G\n", { mode: 0o600 });
  for (const d of [vmdir, def, dir, join(dir, "templates"), join(dir, "control")]) {
    Deno.chmodSync(d, 0o700);
  }
  return dir;
}

Deno.test("vmProblems: a private VM has none; each kind of problem is found and named", async () => {
  await withTempDir((vmdir) => {
    const uid = Deno.uid() ?? 0;
    const dir = vmDir(vmdir, "a");
    assert.deepEqual(vmProblems(inspectDir(dir), uid), []);
    Deno.writeTextFileSync(join(dir, "hooks"), "pre_qemu() { :; }\n", { mode: 0o600 });
    Deno.chmodSync(join(dir, "hooks"), 0o666);
    Deno.chmodSync(join(dir, "templates"), 0o777);
    Deno.chmodSync(join(vmdir, ".default", "run"), 0o722);
    Deno.writeTextFileSync(join(vmdir, "outside"), "-m 64G\n");
    Deno.symlinkSync(join(vmdir, "outside"), join(dir, "templates", "evil"));
    Deno.symlinkSync(join(vmdir, "outside"), join(dir, "wait"));
    const lines = vmProblems(inspectDir(dir), uid).map(problemLine);
    const expect = [
      `"${dir}/hooks" is writable by others (mode 0666); fix: chmod go-w ${dir}/hooks`,
      `"${dir}/wait" is a symbolic link to "${vmdir}/outside", outside the VM's directory; ` +
      `fix: cp --remove-destination ${vmdir}/outside ${dir}/wait`,
      `"${vmdir}/.default/run" is writable by others (mode 0722); fix: chmod go-w ` +
      `${vmdir}/.default/run`,
      `"${dir}/templates" is writable by others (mode 0777); fix: chmod go-w ${dir}/templates`,
      `"${dir}/templates/evil" is a symbolic link to "${vmdir}/outside", outside the VM's ` +
      `directory; fix: cp --remove-destination ${vmdir}/outside ${dir}/templates/evil`,
    ];
    assert.deepEqual(lines, expect);
    // Someone else's VM directory (as root: hand it to another uid; else: judge it for another).
    if (uid === 0) Deno.chownSync(dir, 54321, null);
    const owner = uid === 0 ? 54321 : uid;
    const runner = uid === 0 ? 0 : uid + 1;
    assert.equal(
      problemLine(vmProblems(inspectDir(dir), runner)[0]!),
      `"${dir}" is owned by uid ${owner}, not by uid ${runner} who runs the VM; ` +
        `fix: chown ${runner} ${dir}`,
    );
  });
});

Deno.test("vmState: a VM others may change shows as unsafe with its first problem", async () => {
  await withTempDir((vmdir) => {
    const dir = vmDir(vmdir, "u");
    assert.equal(vmState(inspectDir(dir)).state, "unsupervised");
    Deno.chmodSync(dir, 0o777);
    const s = vmState(inspectDir(dir));
    assert.equal(s.state, "unsafe");
    assert.equal(s.problem, `"${dir}" is writable by others (mode 0777); fix: chmod go-w ${dir}`);
    assert.match(formatTable([s]), /\bu\s+unsafe\s/);
    assert.match(formatStatus(s), /problem: +".*" is writable by others/);
  });
});

/** What deriveState gets of a supervised VM with autostart and wait 10, with `over`. */
function input(over: Partial<StateInput> & { name: string }): StateInput {
  return { supervised: true, autostart: true, wait: 10, ...over };
}

Deno.test("deriveState: an orphan QEMU wins over runsv's down; unsafe never hides a running VM", () => {
  const now = 1_700_000_000;
  const down = {
    since: now - 5,
    pid: 0,
    paused: false,
    want: "down",
    gotTerm: false,
    state: "down",
  } as const;
  const o = deriveState(input({ name: "o", status: down, autostart: false, orphan: 4321 }), now);
  assert.equal(o.state, "orphan");
  assert.equal(o.pid, 4321);
  assert.match(o.problem ?? "", /QEMU \(PID 4321\) runs without its runsv; "vm stop o"/);
  const un = deriveState(
    { name: "o", supervised: false, autostart: true, wait: 10, orphan: 7 },
    now,
  );
  assert.equal(un.state, "orphan");
  const run = { ...down, state: "run", pid: 55, want: "up" } as const;
  assert.equal(
    deriveState(input({ name: "r", status: run, unsafe: "x" }), now).state,
    "run",
  );
  assert.equal(
    deriveState(input({ name: "r", status: down, unsafe: "x" }), now).state,
    "unsafe",
  );
});
