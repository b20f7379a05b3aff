// Companion processes of a VM (lib/service/companions.ts): started marked in the VM's directory
// and waited for until ready, refused while one of an earlier run is left, ended by finish once
// no QEMU works there, found by doctor. Real processes (sh, sleep) stand in for swtpm/virtiofsd.

import assert from "node:assert/strict";
import {
  type CompanionSpec,
  endCompanions,
  startCompanions,
  strayCompanions,
} from "../../lib/service/companions.ts";
import { COMPANION_ENV, companionsIn, isQemuProgram } from "../../lib/qemu/processes.ts";
import {
  daemonArgs,
  daemonMark,
  daemonOwner,
  endStrayDaemons,
  socketDir,
} from "../../lib/qemu/storage_daemon.ts";
import { inspectDir } from "../../lib/vm/inspect.ts";
import { SystemError } from "../../lib/errors.ts";
import { isAlive, signal } from "../../lib/os/proc.ts";
import { pollUntil } from "../../lib/os/poll.ts";
import { withTempDir } from "../support/temp_dir.ts";

const ENV = { PATH: "/usr/bin:/bin" };

/** A companion that makes `ready` (after `delay`), then sleeps; or one that runs `script`. */
function fake(
  dir: string,
  name: string,
  script = "sleep 0.1; : >ready-$0; exec sleep 60",
): CompanionSpec {
  return { name, argv: ["/bin/sh", "-c", script, name], ready: `${dir}/ready-${name}` };
}

async function vmIn(root: string): Promise<string> {
  const dir = `${root}/vm1`;
  await Deno.mkdir(`${dir}/supervise`, { recursive: true });
  return dir;
}

Deno.test("companions start marked in the VM's directory, ready, and are found again", async () => {
  await withTempDir(async (root) => {
    const dir = await vmIn(root);
    const vm = inspectDir(dir);
    const pids = await startCompanions(vm, [fake(dir, "a"), fake(dir, "b")], ENV);
    try {
      assert.equal(pids.length, 2);
      const found = companionsIn(dir, { children: false });
      assert.deepEqual(found.map((p) => p.name).sort(), ["a", "b"]);
      assert.deepEqual(found.map((p) => p.pid).sort(), [...pids].sort());
      // No QEMU works in the directory: doctor calls them strays, finish ends them.
      assert.deepEqual(strayCompanions(root).map((p) => p.name).sort(), ["a", "b"]);
      // A second start while they are there is refused, naming them (after a short wait).
      const e = await startCompanions(vm, [fake(dir, "a")], ENV, 5_000, 100).catch((e) => e);
      assert.ok(e instanceof SystemError, String(e));
      assert.match(e.message, /^not starting "vm1": .*a \(PID \d+\).* still run .*kill \d+ \d+"$/);
      const ended = await endCompanions(dir);
      assert.equal(ended.length, 2);
      assert.ok(await pollUntil(() => pids.every((p) => !isAlive(p)), 3_000));
      assert.deepEqual(companionsIn(dir, { children: false }), []);
    } finally {
      for (const p of pids) if (isAlive(p)) Deno.kill(p, "SIGKILL");
    }
  });
});

Deno.test("a companion that exits or is never ready fails the start, ending the others", async () => {
  await withTempDir(async (root) => {
    const dir = await vmIn(root);
    const vm = inspectDir(dir);
    const e1 = await startCompanions(vm, [fake(dir, "ok"), fake(dir, "bad", "exit 3")], ENV)
      .catch((e) => e);
    assert.ok(e1 instanceof SystemError, String(e1));
    assert.equal(
      e1.message,
      `not starting "vm1": bad exited (code 3) before making ready-bad; its own message is in ` +
        `"vm log vm1"`,
    );
    const e2 = await startCompanions(vm, [fake(dir, "slow", "exec sleep 60")], ENV, 300)
      .catch((e) => e);
    assert.ok(e2 instanceof SystemError, String(e2));
    assert.match(e2.message, /slow did not make ready-slow within 0 s/);
    const e3 = await startCompanions(
      vm,
      [{ name: "gone", argv: ["/nonexistent/swtpm"], ready: `${dir}/x` }],
      ENV,
    ).catch((e) => e);
    assert.ok(e3 instanceof SystemError, String(e3));
    assert.equal(e3.message, `cannot start gone of "vm1": /nonexistent/swtpm does not exist`);
    // Nothing is left of any of them.
    assert.ok(await pollUntil(() => companionsIn(dir, { children: false }).length === 0, 3_000));
  });
});

Deno.test("no companions: nothing is started", async () => {
  await withTempDir(async (root) => {
    const dir = await vmIn(root);
    assert.deepEqual(await startCompanions(inspectDir(dir), [], ENV), []);
    assert.deepEqual(await endCompanions(dir), []);
  });
});

/** A stand-in for vm backup's qemu-storage-daemon in `dir`, marked for the backup of `owner`. */
function fakeDaemon(dir: string, owner: number): Deno.ChildProcess {
  return new Deno.Command("/bin/sh", {
    args: ["-c", "exec sleep 60"],
    cwd: dir,
    env: { [COMPANION_ENV]: daemonMark(owner) },
    stdin: "null",
  }).spawn();
}

Deno.test("a backup's storage daemon: no start meanwhile, no stray while its backup runs", async () => {
  await withTempDir(async (root) => {
    const dir = await vmIn(root);
    const child = fakeDaemon(dir, Deno.pid);
    try {
      assert.ok(await pollUntil(() => companionsIn(dir, { children: false }).length === 1, 3_000));
      await assert.rejects(
        () => startCompanions(inspectDir(dir), [], ENV, 1_000, 50),
        (e: Error) =>
          e instanceof SystemError &&
          e.message === `not starting "vm1": a "vm backup" (PID ${Deno.pid}) has its disks open; ` +
              "start it once the backup is over",
      );
      assert.deepEqual(strayCompanions(root), []);
      assert.deepEqual(await endCompanions(dir), [], "not ended by __finish");
      assert.equal(await endStrayDaemons(dir), 0);
      assert.ok(isAlive(child.pid));
    } finally {
      child.kill("SIGKILL");
      await child.status;
    }
  });
});

Deno.test("a killed backup's storage daemon: a stray for doctor, ended by the next backup", async () => {
  await withTempDir(async (root) => {
    const dir = await vmIn(root);
    const gone = new Deno.Command("/bin/true").spawn();
    await gone.status;
    const child = fakeDaemon(dir, gone.pid);
    try {
      assert.ok(await pollUntil(() => companionsIn(dir, { children: false }).length === 1, 3_000));
      assert.deepEqual(strayCompanions(root).map((p) => p.pid), [child.pid]);
      assert.equal(await endStrayDaemons(dir), 1);
      assert.equal((await child.status).signal, "SIGTERM");
    } finally {
      signal(child.pid, "SIGKILL");
      await child.status;
    }
  });
});

Deno.test("storage daemon: its marks, its arguments; it is no VM's QEMU", () => {
  assert.equal(daemonOwner(daemonMark(42)), 42);
  assert.equal(daemonOwner("swtpm"), undefined);
  assert.equal(socketDir(daemonArgs([], "/tmp/vm-qsd-a,b/qmp")), "/tmp/vm-qsd-a,b");
  assert.equal(socketDir(daemonArgs([], "/etc/qmp")), undefined, "only its own directory");
  assert.deepEqual(
    daemonArgs([{ path: "/v/a,b.qcow2", format: "qcow2", node: "vmdisk0" }], "/tmp/x,y/qmp"),
    [
      "--blockdev",
      '{"driver":"file","node-name":"vmdisk0-file","filename":"/v/a,b.qcow2"}',
      "--blockdev",
      '{"driver":"qcow2","node-name":"vmdisk0","file":"vmdisk0-file"}',
      "--chardev",
      "socket,path=/tmp/x,,y/qmp,server=on,wait=off,id=m",
      "--monitor",
      "chardev=m",
    ],
  );
  assert.ok(isQemuProgram("/usr/bin/qemu-system-x86_64"));
  assert.ok(!isQemuProgram("/usr/bin/qemu-storage-daemon"));
});
