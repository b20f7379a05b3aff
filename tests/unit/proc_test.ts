// The process table (lib/os/proc.ts), its /proc questions (lib/qemu/processes.ts) and vm daemon's pure parts (lib/daemon.ts):
// parsing /proc files, finding processes by working directory, the flock
// holder in /proc/locks, the stop bound.

import assert from "node:assert/strict";
import {
  cmdlineOf,
  cwdOf,
  descendants,
  environOf,
  envOf,
  exeOf,
  findByCwd,
  isAlive,
  isGoneError,
  parseStat,
  procStat,
  socketHolder,
} from "../../lib/os/proc.ts";
import {
  findRunsv,
  findRunsvdir,
  hookGroups,
  qemuPidsIn,
  strayLoggers,
} from "../../lib/qemu/processes.ts";
import { flockHolder, lockVmdir, STOP_MARGIN_S, stopBoundS } from "../../lib/actions/daemon.ts";
import { DaemonRunningError } from "../../lib/errors.ts";
import { withTempDir } from "../support/temp_dir.ts";
import { pollUntil } from "../../lib/os/poll.ts";
import { environValue } from "../support/environ.ts";

Deno.test("parseStat: fields around a name with spaces and parentheses", () => {
  const text = "4242 (qemu (x) y) S 17 4242 4242 0 -1 4194560 " +
    "100 0 0 0 5 6 7 8 20 0 3 0 987654 123456789 1000 18446744073709551615\n";
  assert.deepEqual(parseStat(text), {
    pid: 4242,
    comm: "qemu (x) y",
    state: "S",
    ppid: 17,
    pgrp: 4242,
    session: 4242,
    startTime: 987654,
  });
  assert.equal(parseStat("garbage"), undefined);
  assert.equal(parseStat("1 (x) S"), undefined);
});

Deno.test("procStat and isAlive: this process, and a start time that does not match", () => {
  const me = procStat(Deno.pid);
  assert.ok(me !== undefined);
  assert.equal(me.pid, Deno.pid);
  assert.ok(isAlive(Deno.pid));
  assert.ok(isAlive(Deno.pid, me.startTime));
  assert.ok(!isAlive(Deno.pid, me.startTime + 1), "a reused PID is another process");
  assert.equal(procStat(0x3fffffff), undefined);
});

Deno.test("environValue / envOf: one variable of an environment", async () => {
  assert.equal(environValue("A=1\0VM_DAEMON_PID=77\0B=x=y\0", "VM_DAEMON_PID"), "77");
  assert.equal(environValue("A=1\0B=x=y\0", "B"), "x=y");
  assert.equal(environValue("AB=1\0", "A"), undefined);
  const child = new Deno.Command("sleep", {
    args: ["30"],
    env: { MARK_FOR_TEST: "here" },
    stdin: "null",
  }).spawn();
  try {
    // Until the child has exec'd sleep, /proc shows the environment of Deno's fork.
    assert.ok(await pollUntil(() => procStat(child.pid)?.comm === "sleep", 5_000));
    assert.equal(envOf(child.pid, "MARK_FOR_TEST"), "here");
    assert.equal(envOf(child.pid, "NOT_SET_AT_ALL"), undefined);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
});

Deno.test("findByCwd: processes by name in a directory, or directly below it", async () => {
  await withTempDir(async (root) => {
    Deno.mkdirSync(`${root}/a/deeper`, { recursive: true });
    const spawn = (cwd: string) =>
      new Deno.Command("sleep", { args: ["30"], cwd, stdin: "null" }).spawn();
    const kids = [spawn(root), spawn(`${root}/a`), spawn(`${root}/a/deeper`)];
    try {
      // Until a child has exec'd sleep, /proc names it after Deno's fork.
      assert.ok(await pollUntil(() => kids.every((k) => procStat(k.pid)?.comm === "sleep"), 5_000));
      const pids = (found: { pid: number }[]) => found.map((p) => p.pid).sort();
      const [inRoot, inA] = kids;
      assert.deepEqual(pids(findByCwd("sleep", root, { children: false })), [inRoot?.pid]);
      assert.deepEqual(pids(findByCwd("sleep", root, { children: true })), [inA?.pid]);
      assert.deepEqual(findByCwd("runsv", root, { children: true }), []);
    } finally {
      for (const k of kids) {
        k.kill("SIGKILL");
        await k.status;
      }
    }
  });
});

Deno.test("flockHolder: the PID of a write flock on an inode in /proc/locks", () => {
  const locks = [
    "1: POSIX  ADVISORY  READ 18611 fe:00:16040100 128 128",
    "2: FLOCK  ADVISORY  WRITE 16131 fe:00:2154835 0 EOF",
    "3: FLOCK  ADVISORY  WRITE 999 fe:00:777 0 EOF",
    "",
  ].join("\n");
  assert.equal(flockHolder(locks, 2154835), 16131);
  assert.equal(flockHolder(locks, 777), 999);
  assert.equal(flockHolder(locks, 16040100), undefined, "POSIX locks are not ours");
  assert.equal(flockHolder(locks, 1), undefined);
});

Deno.test("lockVmdir: one holder at a time; another process is refused, naming the holder", async () => {
  await withTempDir(async (dir) => {
    const lock = lockVmdir(dir);
    try {
      const other = await new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `import { lockVmdir } from ${
            JSON.stringify(new URL("../../lib/actions/daemon.ts", import.meta.url).href)
          };` +
          `try { lockVmdir(${JSON.stringify(dir)}); console.log("locked"); } ` +
          `catch (e) { console.log(e.constructor.name + ": " + e.message); }`,
        ],
        stdin: "null",
        stdout: "piped",
      }).output();
      const out = new TextDecoder().decode(other.stdout);
      assert.match(
        out,
        new RegExp(`^DaemonRunningError: Another "vm daemon" \\(PID ${Deno.pid}\\)`),
      );
    } finally {
      lock.close();
    }
    // Released: it can be taken again.
    lockVmdir(dir).close();
    assert.ok(new DaemonRunningError("x").exitCode === 1);
  });
});

Deno.test("stopBoundS: the largest wait plus the margin", () => {
  assert.equal(stopBoundS([3, 10, 1]), 10 + STOP_MARGIN_S);
  assert.equal(stopBoundS([]), STOP_MARGIN_S);
  assert.equal(stopBoundS([5], 2), 7);
});

/** What Deno throws reading `/proc/<pid>/…` of a process that is exiting (errno 3, ESRCH). */
function esrch(path: string): Error {
  return new Error(`No such process (os error 3): readfile '${path}'`);
}

/**
 * Runs `fn` while every read of a `/proc/<digits>/…` path throws `make(path)`
 * (as for a process that exits between the listing of /proc and the read),
 * and other paths read as usual.
 */
function withProcReads<T>(make: (path: string) => Error, fn: () => T): T {
  const d = Deno as unknown as Record<string, unknown>;
  const names = ["readTextFileSync", "readLinkSync", "readDirSync", "readFileSync"] as const;
  const saved = names.map((n) => d[n]);
  names.forEach((n, i) => {
    const orig = saved[i] as (p: string | URL, ...rest: unknown[]) => unknown;
    d[n] = (p: string | URL, ...rest: unknown[]) => {
      if (/^\/proc\/[0-9]+\//.test(String(p))) throw make(String(p));
      return orig(p, ...rest);
    };
  });
  try {
    return fn();
  } finally {
    names.forEach((n, i) => d[n] = saved[i]);
  }
}

Deno.test("isGoneError: ESRCH as Deno gives it (a plain Error), ENOENT, EACCES; nothing else", () => {
  assert.ok(isGoneError(esrch("/proc/6803/cmdline")));
  assert.ok(isGoneError(new Deno.errors.NotFound("x")));
  assert.ok(isGoneError(new Deno.errors.PermissionDenied("x")));
  assert.ok(isGoneError(Object.assign(new Error("x"), { code: "ESRCH" })));
  assert.ok(!isGoneError(new Error("Input/output error (os error 5): readfile '/proc/1/stat'")));
  assert.ok(!isGoneError(new Error("No such process (os error 30)")));
  assert.ok(!isGoneError("No such process (os error 3)"), "only errors");
});

Deno.test("procRead's callers go on past a process that exits under them (errno 3)", async () => {
  await withTempDir(async (root) => {
    const kid = new Deno.Command("sleep", { args: ["30"], cwd: root, stdin: "null" }).spawn();
    try {
      assert.ok(await pollUntil(() => procStat(kid.pid)?.comm === "sleep", 5_000));
      withProcReads(esrch, () => {
        assert.equal(procStat(kid.pid), undefined);
        assert.equal(cmdlineOf(kid.pid), undefined);
        assert.equal(cwdOf(kid.pid), undefined);
        assert.equal(exeOf(kid.pid), undefined);
        assert.equal(environOf(kid.pid), undefined);
        assert.equal(isAlive(kid.pid), false);
        assert.deepEqual(descendants(Deno.pid), []);
        assert.deepEqual(findByCwd("sleep", root, { children: false }), []);
        assert.equal(socketHolder(1), undefined);
        // The /proc questions of lib/qemu/processes.ts, on top of them.
        assert.deepEqual(findRunsvdir(root), []);
        assert.deepEqual(findRunsv(root), []);
        assert.deepEqual(qemuPidsIn(root), []);
        assert.deepEqual(strayLoggers(root), []);
        assert.deepEqual(hookGroups(root, "vm"), []);
      });
      // Another error of the system is not taken for a gone process.
      const eio = (p: string) => new Error(`Input/output error (os error 5): readfile '${p}'`);
      assert.throws(() => withProcReads(eio, () => cmdlineOf(kid.pid)), /os error 5/);
      // Without the fault, the same calls see the process.
      assert.deepEqual(findByCwd("sleep", root, { children: false }).map((p) => p.pid), [kid.pid]);
    } finally {
      kid.kill("SIGKILL");
      await kid.status;
    }
  });
});
