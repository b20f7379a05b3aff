// `vm doctor` and what interrupted operations leave: an interrupted operation's directory
// (here a `vm clone` killed with SIGKILL while copying a disk, and a
// `.make-*` of a process that is gone) is reported by `vm list` in one line
// on stderr and removed by `vm doctor --fix`, never one whose owner still
// runs; `vm doctor` exits 1 naming the missing vmd, 0 on a fresh VMDIR a
// runsvdir supervises, and 1 naming a world-writable hook, a leftover and an
// orphan QEMU (which `vm kill` then reaches).

import assert from "node:assert/strict";
import { join } from "node:path";
import { descendants, signal } from "../../lib/os/proc.ts";
import { isSupervised, readStatus } from "../../lib/runit/status.ts";
import { noVmdProblem } from "../../lib/actions/doctor.ts";
import { alive, ppidOf, qemuUp, run, test, type TestEnv, waitFor } from "../support/harness.ts";
import { spawnPiped } from "../support/piped.ts";

/** Makes VM `name` from `templates` (a 1M disk unless replaced); returns its directory. */
async function make(t: TestEnv, name: string, templates: string): Promise<string> {
  const r = await t.vm(["make", name, "--disk", "1M", "--wait", "1", "--no-log", "-y"], {
    env: { VMCONF_DEFAULT_TEMPLATES: templates },
  });
  assert.equal(r.code, 0, r.stderr);
  return t.dir(name);
}

/** Gives VM `dir` a qcow2 disk holding `mib` MiB of data. */
async function fillDisk(t: TestEnv, dir: string, mib: number): Promise<void> {
  const raw = join(t.root, "raw");
  const dd = await run("dd", ["if=/dev/urandom", `of=${raw}`, "bs=1M", `count=${mib}`]);
  assert.equal(dd.code, 0, dd.stderr);
  const conv = await run("qemu-img", ["convert", "-O", "qcow2", raw, join(dir, "drive.qcow2")]);
  assert.equal(conv.code, 0, conv.stderr);
  Deno.removeSync(raw);
}

/** Runs `vm clone a b` and kills it (and its qemu-img) once its copy of the disk has begun. */
async function interruptedClone(t: TestEnv, from: string, to: string): Promise<string> {
  const child = spawnPiped(t.vmExe, ["clone", from, to], t.env);
  await child.stdin.close();
  const tmp = join(t.vmdir, `.clone-${to}-${child.pid}`);
  const copying = () => {
    try {
      return Deno.statSync(join(tmp, "drive.qcow2")).size > 0;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    }
  };
  const end = Date.now() + 20_000;
  while (!copying() && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
  const tree = descendants(child.pid);
  for (const pid of tree) signal(pid, "SIGSTOP"); // freeze its qemu-img mid-copy
  child.kill("SIGKILL");
  for (const pid of tree) signal(pid, "SIGKILL"); // and end it, as Ctrl-C would
  await child.output();
  assert.ok(copying(), "the clone was not caught while copying the disk");
  return tmp;
}

/**
 * Starts a guest-less QEMU for VM `dir` under runsv (the runsvdir of `t` runs), then kills its
 * runsv: an orphan QEMU.
 */
async function orphan(t: TestEnv, dir: string): Promise<number> {
  assert.ok(await waitFor(() => isSupervised(dir), 10_000), "no runsv");
  await t.vm(["sv", "up", "orph"]);
  const qemu = await qemuUp(dir);
  const runsv = ppidOf(qemu) ?? 0;
  Deno.kill(runsv, "SIGKILL");
  assert.ok(await waitFor(() => !alive(runsv) && isSupervised(dir), 15_000), "no new runsv");
  assert.notEqual(readStatus(dir)?.pid, qemu);
  return qemu;
}

test("vm doctor: leftovers, a world-writable hook and an orphan QEMU", async (t) => {
  // Without a vmd that is the one problem; with one, none.
  const alone = await t.vm(["doctor"]);
  assert.equal(alone.code, 1, alone.stdout + alone.stderr);
  assert.equal(alone.stdout, `${noVmdProblem(t.vmdir)}\n`);
  t.startRunsvdir();
  assert.ok(await waitFor(async () => (await t.vm(["doctor"])).code === 0, 10_000), "no runsvdir");
  const fresh = await t.vm(["doctor"]);
  assert.equal(fresh.stdout, `No problems in "${t.vmdir}"\n`);

  const big = await make(t, "big", "display-none drive");
  await fillDisk(t, big, 160);
  const clone = await interruptedClone(t, "big", "copy");
  const make1 = join(t.vmdir, ".make-web-4194305"); // a PID no process can have
  Deno.mkdirSync(make1);
  Deno.writeFileSync(join(make1, "drive.qcow2"), new Uint8Array(1 << 20).fill(7));
  const list = await t.vm(["list"]);
  assert.equal(list.code, 0);
  assert.match(
    list.stderr,
    /^vm: 2 unfinished operations hold [0-9.]+ MiB: vm doctor --fix removes them\n$/,
  );

  const hooks = join(big, "hooks");
  Deno.writeTextFileSync(hooks, "post_qemu() { :; }\n");
  Deno.chmodSync(hooks, 0o666);
  const orph = await make(t, "orph", "display-none");
  Deno.writeTextFileSync(join(orph, "templates", "none"), "-machine none -nodefaults\n");
  const qemu = await orphan(t, orph);
  // Work in progress: a process that started before its directory.
  const owner = t.spawn("sleep", { args: ["600"] });
  await new Promise((r) => setTimeout(r, 50));
  const busy = join(t.vmdir, `.make-new-${owner.pid}`);
  Deno.mkdirSync(busy);

  const hookLine =
    `VM "big": "${hooks}" is writable by others (mode 0666); fix: chmod go-w ${hooks}`;
  const orphanLine =
    `VM "orph": QEMU (PID ${qemu}) runs without its runsv (was it killed?); fix: vm stop orph`;
  const leftover = (path: string, op: string, vm: string, pid: string) =>
    new RegExp(
      `^"${path}" \\([0-9.]+ [KM]iB\\) is left by an interrupted "vm ${op} ${vm}" ` +
        `\\(PID ${pid}, gone\\); fix: vm doctor --fix$`,
    );
  const doctor = await t.vm(["doctor"]);
  assert.equal(doctor.code, 1, doctor.stderr);
  const lines = doctor.stdout.trimEnd().split("\n");
  assert.equal(lines[0], `In progress, left alone: "${busy}" ("vm make new", PID ${owner.pid})`);
  assert.equal(lines[1], hookLine);
  assert.equal(lines[2], orphanLine);
  assert.match(lines[3] ?? "", leftover(clone, "clone", "copy", clone.split("-").at(-1) ?? ""));
  assert.match(lines[4] ?? "", leftover(make1, "make", "web", "4194305"));
  assert.equal(lines.length, 5, doctor.stdout);

  const fix = await t.vm(["doctor", "--fix"]);
  assert.equal(fix.code, 1);
  assert.match(fix.stdout, new RegExp(`^Removed "${clone}" \\([0-9.]+ [KM]iB\\)$`, "m"));
  assert.match(fix.stdout, new RegExp(`^Removed "${make1}" \\(1\\.0 MiB\\)$`, "m"));
  assert.ok(!(await t.vm(["list"])).stderr.includes("unfinished"), "none left to report");
  assert.deepEqual(
    [...Deno.readDirSync(t.vmdir)].map((e) => e.name).filter((n) => n.startsWith(".")).sort(),
    [".default", `.make-new-${owner.pid}`],
  );

  const kill = await t.vm(["kill", "orph"]);
  assert.equal(kill.code, 0, kill.stderr);
  assert.match(
    kill.stdout,
    /^Killed "orph" in [0-9.]+ s \(not graceful: .*; it ran without its runsv\)/,
  );
  assert.ok(!alive(qemu));
  Deno.chmodSync(hooks, 0o600);
  owner.kill("SIGKILL");
  await owner.status;
  Deno.removeSync(busy);
  const clean = await t.vm(["doctor"]);
  assert.equal(clean.code, 0, clean.stdout);
});
