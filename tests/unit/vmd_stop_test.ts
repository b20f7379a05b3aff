// vmd's own stop of a VM at host shutdown, seen from runit's side: the
// shipped control/t and finish (default/) read what vmd leaves in
// supervise/vmd-stop (lib/service/vmd_stop.ts's outcomeText). control/t waits
// while vmd holds the file locked, then logs vmd's lines (once) and exits with
// its code, starting no vm; without an outcome for this QEMU it runs vm __stop.
// finish starts no vm after a stop vmd did, unless the VM has hooks. The
// scripts run under sh in a temp VM directory, with a fake vm that records
// its calls.

import assert from "node:assert/strict";
import { join } from "node:path";
import { renderScript } from "../../lib/actions/setup_default.ts";
import { outcomeText } from "../../lib/service/vmd_stop.ts";
import { F } from "../../lib/layout.ts";
import { REPO } from "../support/repo.ts";
import { withTempDir } from "../support/temp_dir.ts";

/** QEMU's PID, as runsv's `supervise/pid` names it. */
const QEMU = 4242;

interface Run {
  code: number;
  out: string;
  /** The fake vm's calls, one line each. */
  calls: string[];
}

/** A VM directory `web` under `root` with supervise/pid, and the scripts rendered for a fake vm. */
function vmDir(root: string): string {
  const dir = join(root, "web");
  Deno.mkdirSync(join(dir, "supervise"), { recursive: true });
  Deno.writeTextFileSync(join(dir, F.pid), `${QEMU}\n`);
  const vm = join(root, "vm");
  Deno.writeTextFileSync(vm, `#!/bin/sh\necho "$*" >>"${root}/calls"\nexit 7\n`, { mode: 0o755 });
  for (const script of [F.controlT, F.finish]) {
    const text = Deno.readTextFileSync(join(REPO, "default", script));
    Deno.writeTextFileSync(join(root, script.replace("/", "_")), renderScript(text, vm));
  }
  return dir;
}

/** Spawns `script` (control/t or finish) under sh in `dir`. */
function spawn(dir: string, script: string, args: string[] = []): Deno.ChildProcess {
  return new Deno.Command("sh", {
    args: [join(dir, "..", script.replace("/", "_")), ...args],
    cwd: dir,
    env: { PATH: "/usr/local/bin:/usr/bin:/bin" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function ran(dir: string, child: Deno.ChildProcess): Promise<Run> {
  const out = await child.output();
  let calls: string[] = [];
  try {
    calls = Deno.readTextFileSync(join(dir, "..", "calls")).trim().split("\n");
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, out: text, calls };
}

function run(dir: string, script: string, args: string[] = []): Promise<Run> {
  return ran(dir, spawn(dir, script, args));
}

const marker = (dir: string) => join(dir, F.vmdStop);

Deno.test("control/t: vmd's outcome for this QEMU is logged with the VM's name and is the exit code; no vm starts", async () => {
  await withTempDir(async (root) => {
    const dir = vmDir(root);
    const lines = ["stop: the guest powered off in 1.2 s", "stop: not recorded: disk full"];
    Deno.writeTextFileSync(marker(dir), outcomeText(QEMU, 0, lines));
    assert.deepEqual(await run(dir, F.controlT), {
      code: 0,
      out: "web: stop: the guest powered off in 1.2 s\nweb: stop: not recorded: disk full\n",
      calls: [],
    });
    // Said once: runsv runs control/t again when runsvdir's TERM comes before QEMU is reaped.
    assert.equal(Deno.readTextFileSync(marker(dir)), outcomeText(QEMU, 0, []));
    assert.deepEqual(await run(dir, F.controlT), { code: 0, out: "", calls: [] });
    Deno.writeTextFileSync(marker(dir), outcomeText(QEMU, 1, ["fatal: QEMU did not exit\nat all"]));
    assert.deepEqual(await run(dir, F.controlT), {
      code: 1,
      out: "web: fatal: QEMU did not exit at all\n",
      calls: [],
    });
  });
});

Deno.test("control/t: no outcome, another QEMU's, or none yet from a vmd that is gone: vm __stop", async () => {
  await withTempDir(async (root) => {
    const dir = vmDir(root);
    const stop = `__stop ${await Deno.realPath(dir)}`;
    assert.deepEqual(await run(dir, F.controlT), { code: 7, out: "", calls: [stop] });
    Deno.writeTextFileSync(marker(dir), outcomeText(QEMU + 1, 0, ["stop: stale"]));
    assert.deepEqual((await run(dir, F.controlT)).calls, [stop, stop]);
    Deno.writeTextFileSync(marker(dir), `${QEMU}\n`); // claimed, never finished
    const r = await run(dir, F.controlT);
    assert.deepEqual([r.code, r.out, r.calls], [7, "", [stop, stop, stop]]);
  });
});

Deno.test("control/t: waits while vmd holds supervise/vmd-stop locked, then says what vmd left", async () => {
  await withTempDir(async (root) => {
    const dir = vmDir(root);
    const file = await Deno.open(marker(dir), { read: true, write: true, create: true });
    await file.lock(true);
    await file.write(new TextEncoder().encode(`${QEMU}\n`));
    const child = spawn(dir, F.controlT);
    const early = await Promise.race([
      child.status.then(() => "exited"),
      new Promise((r) => setTimeout(() => r("waiting"), 500)),
    ]);
    assert.equal(early, "waiting");
    await file.truncate(0);
    await file.seek(0, Deno.SeekMode.Start);
    await file.write(new TextEncoder().encode(outcomeText(QEMU, 0, ["stop: done"])));
    file.close();
    assert.deepEqual(await ran(dir, child), { code: 0, out: "web: stop: done\n", calls: [] });
  });
});

Deno.test("finish: after vmd's stop (code 0) no vm starts unless the VM has hooks; the outcome is used once", async () => {
  await withTempDir(async (root) => {
    const dir = vmDir(root);
    const finish = `__finish ${await Deno.realPath(dir)} 0 15`;
    Deno.writeTextFileSync(marker(dir), outcomeText(QEMU, 0, [])); // as control/t leaves it
    assert.deepEqual(await run(dir, F.finish, ["0", "15"]), { code: 0, out: "", calls: [] });
    assert.equal(Deno.readTextFileSync(marker(dir)), "");
    // The next QEMU's end (a crash, say) is vm __finish's: the backoff is recorded.
    assert.deepEqual((await run(dir, F.finish, ["0", "15"])).calls, [finish]);
    Deno.writeTextFileSync(marker(dir), outcomeText(QEMU, 0, []));
    Deno.symlinkSync("missing", join(dir, F.hooks)); // even a dangling one, as vm __finish sees it
    assert.deepEqual((await run(dir, F.finish, ["0", "15"])).calls, [finish, finish]);
    Deno.removeSync(join(dir, F.hooks));
    for (const text of [outcomeText(QEMU, 1, ["fatal: x"]), `${QEMU}\n`]) {
      Deno.writeTextFileSync(marker(dir), text); // vmd failed, or never finished
      assert.equal((await run(dir, F.finish, ["0", "15"])).code, 7);
      assert.equal(Deno.readTextFileSync(marker(dir)), "");
    }
  });
});
