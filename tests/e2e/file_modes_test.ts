// Whatever the umask (000 and 022), as root and as an
// unprivileged user, everything vm creates is private — $VMDIR itself when vm
// makes it, .default, the VM directory, templates/, disks, log/, once, down,
// clones, snapshots' disks — and a VM others may change is refused by
// `vm __run` with one line naming the file and the chmod that fixes it,
// shown as `unsafe` by list, status and info, and listed by `vm doctor`
// (also a VM brought in by `vm import tar`).
// As root the unprivileged user is made with useradd (and removed after);
// run as a user, the root half is skipped and says why (a skip is no pass).

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { quoteWord, quoteWords } from "../../lib/text/shell_words.ts";
import { REPO, TestEnv, waitFor } from "../support/harness.ts";
import { runPiped } from "../support/piped.ts";
import { recordTestRoot } from "../support/roots.ts";
import { isSupervised } from "../../lib/runit/status.ts";
import { skippable } from "../support/skip.ts";
import { noVmdProblem } from "../../lib/actions/doctor.ts";
import { addTestUser, removeTestUser } from "../support/test_user.ts";

const IS_ROOT = Deno.uid() === 0;

/** Who runs vm: uid/gid, and the argv prefix that runs a command as them with a umask. */
interface Runner {
  label: string;
  uid: number;
  gid: number;
  /** argv before the command: setpriv to the user (nothing for ourselves). */
  prefix: string[];
  /** A directory the runner owns, for its DENO_DIR and VMDIRs. */
  home: string;
}

/** Runs `vm args` as `who` under `umask`, against `vmdir`. */
function vmAs(who: Runner, mask: string, vmdir: string, args: string[]) {
  const exe = join(who.home, "bin", "vm");
  const argv = [...who.prefix, "/bin/sh", "-c", 'umask "$0"; exec "$@"', mask, exe, ...args];
  return runPiped(
    argv[0] ?? "",
    argv.slice(1),
    {
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      HOME: who.home,
      VMDIR: vmdir,
      VMCONF: join(who.home, "conf"),
      VMCONF_DEFAULT_TEMPLATES: "display-none drive",
      DENO_DIR: join(who.home, "deno"),
      NO_COLOR: "1",
    },
  );
}

/** The mode bits of `path` (not following a final symlink). */
function mode(path: string): string {
  return "0" + ((Deno.lstatSync(path).mode ?? 0) & 0o7777).toString(8);
}

/** Asserts each path has its mode: `[path, "0700"]…`. */
function modes(expect: [string, string][], why: string): void {
  const actual = expect.map(([p]) => [p, mode(p)]);
  assert.deepEqual(actual, expect, why);
}

/** A home for `who` (owned by them) with a launcher and an empty config. */
function makeHome(uid: number, gid: number): string {
  const home = Deno.makeTempDirSync({ prefix: "vm-test-" });
  recordTestRoot(home);
  Deno.mkdirSync(join(home, "bin"));
  Deno.writeTextFileSync(
    join(home, "bin", "vm"),
    `#!/bin/sh\nexec ${quoteWords([Deno.execPath(), "run", "--allow-all", "--quiet"])} ` +
      `${quoteWord(join(REPO, "main.ts"))} "$@"\n`,
    { mode: 0o755 },
  );
  Deno.writeTextFileSync(join(home, "conf"), "");
  Deno.mkdirSync(join(home, "deno"));
  for (const p of [home, join(home, "conf"), join(home, "deno")]) Deno.chownSync(p, uid, gid);
  Deno.chmodSync(home, 0o755);
  return home;
}

/** Checks that what vm creates is private and an unsafe VM refused, for one runner under one umask. */
async function checkPrivate(who: Runner, mask: string): Promise<void> {
  const why = `${who.label}, umask ${mask}`;
  const vmdir = join(who.home, `vms-${mask}`); // missing: vm makes it
  const vm = (args: string[]) => vmAs(who, mask, vmdir, args);
  const ok = async (args: string[]) => {
    const r = await vm(args);
    assert.equal(r.code, 0, `${why}: vm ${args.join(" ")}: ${r.stderr}`);
    return r;
  };
  await ok(["__setup", join(REPO, "default"), join(who.home, "bin", "vm")]);
  const def = join(vmdir, ".default");
  modes([
    [vmdir, "0700"],
    [def, "0700"],
    [join(def, "templates"), "0700"],
    [join(def, "templates", "mem"), "0600"],
    [join(def, "run"), "0700"],
    [join(def, "control"), "0700"],
    [join(def, "control", "t"), "0700"],
  ], `${why}: __setup`);
  await ok(["make", "um", "--disk", "1M", "--wait", "1", "--log", "-y"]);
  const dir = join(vmdir, "um");
  await vm(["boot", "um", "-name", "once"]); // no vmd: fails, but keeps templates/once
  await ok(["autostart", "um", "on"]);
  await ok(["autostart", "um", "off"]);
  await ok(["snapshot", "um", "create", "s1"]);
  await ok(["clone", "um", "um2"]);
  const archive = join(who.home, `um-${mask}.tar`);
  await ok(["export", "tar", "um", archive]);
  await ok(["import", "tar", archive, "um3"]);
  for (const d of [dir, join(vmdir, "um2"), join(vmdir, "um3")]) {
    modes([
      [d, "0700"],
      [join(d, "templates"), "0700"],
      [join(d, "templates", "display-none"), "0600"],
      [join(d, "drive.qcow2"), "0600"],
      [join(d, "wait"), "0600"],
      [join(d, "down"), "0600"],
      [join(d, "control"), "0700"],
      [join(d, "log"), "0700"],
      [join(d, "log", "main"), "0700"],
    ], `${why}: ${d}`);
  }
  modes([[join(dir, "templates", "once"), "0600"]], `${why}: once`);
  for (const d of [dir, join(vmdir, "um2"), vmdir]) {
    assert.equal(Deno.statSync(d).uid, who.uid, `${why}: ${d} is the runner's`);
  }
  const list = JSON.parse((await ok(["list", "--json"])).stdout) as { state: string }[];
  assert.deepEqual(list.map((s) => s.state), ["unsupervised", "unsupervised", "unsupervised"], why);
  // No vmd runs for this VMDIR: the one problem doctor names.
  const doctor = await vm(["doctor"]);
  assert.equal(doctor.stdout, `${noVmdProblem(vmdir)}\n`, why);
  assert.equal(doctor.code, 1, why);
  await checkRefused(who, why, vm, dir);
}

/** A VM others may change: unsafe in list/status/info, refused by __run, listed by doctor. */
async function checkRefused(
  who: Runner,
  why: string,
  vm: (args: string[]) => ReturnType<typeof runPiped>,
  dir: string,
): Promise<void> {
  const hooks = join(dir, "hooks");
  Deno.writeTextFileSync(hooks, "pre_qemu() { echo never; }\n");
  Deno.chownSync(hooks, who.uid, who.gid);
  Deno.chmodSync(hooks, 0o666);
  const line = `"${hooks}" is writable by others (mode 0666); fix: chmod go-w ${hooks}`;
  const list = JSON.parse((await vm(["list", "--json"])).stdout) as Record<string, unknown>[];
  assert.equal(list[0]?.state, "unsafe", why);
  assert.equal(list[0]?.problem, line, why);
  const status = await vm(["status", "um"]);
  assert.equal(status.code, 1);
  assert.match(status.stdout, /state: +unsafe/, why);
  assert.match((await vm(["info", "um"])).stdout, /state: +unsafe/, why);
  const refused = await vm(["__run", dir]);
  assert.equal(refused.code, 111, why);
  assert.equal(refused.stderr, `um: fatal: Not starting "um": ${line}\n`, why);
  const noVmd = `${noVmdProblem(dirname(dir))}\n`;
  const doctor = await vm(["doctor"]);
  assert.equal(doctor.code, 1, why);
  assert.equal(doctor.stdout, `${noVmd}VM "um": ${line}\n`, why);
  Deno.chmodSync(hooks, 0o600);
  assert.equal((await vm(["doctor"])).stdout, noVmd, `${why}: fixed`);
}

Deno.test({
  ...skippable(
    "VM files are private under umask 000 and 022, as root",
    !IS_ROOT ? "needs root" : undefined,
  ),
  async fn() {
    const home = makeHome(0, 0);
    const root: Runner = { label: "root", uid: 0, gid: 0, prefix: [], home };
    try {
      for (const mask of ["000", "022"]) await checkPrivate(root, mask);
    } finally {
      Deno.removeSync(home, { recursive: true });
    }
  },
});
if (!IS_ROOT) {
  console.log("SKIPPED (not a pass): VM files' modes as root need root; run the tests as root");
}

/** Makes a throwaway user (as root) and runs `fn` as them; removes the user after. */
async function withUser(fn: (who: Runner) => Promise<void>): Promise<void> {
  const { name, uid, gid } = await addTestUser("vmt");
  try {
    const home = makeHome(uid, gid);
    const prefix = ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--"];
    try {
      await fn({ label: `user ${name} (uid ${uid})`, uid, gid, prefix, home });
    } finally {
      Deno.removeSync(home, { recursive: true });
    }
  } finally {
    await removeTestUser(name);
  }
}

Deno.test("VM files are private under umask 000 and 022, as an unprivileged user", async () => {
  const each = async (who: Runner) => {
    for (const mask of ["000", "022"]) await checkPrivate(who, mask);
  };
  if (IS_ROOT) return await withUser(each);
  const uid = Deno.uid() ?? 0;
  const gid = Deno.gid() ?? 0;
  const home = makeHome(uid, gid);
  try {
    await each({ label: `uid ${uid}`, uid, gid, prefix: [], home });
  } finally {
    Deno.removeSync(home, { recursive: true });
  }
});

Deno.test("runsv's start of an unsafe VM logs the one line naming the file and its fix", async () => {
  const t = TestEnv.create();
  try {
    const make = await t.vm(["make", "web", "--disk", "1M", "--log", "-y"], {
      env: { VMCONF_DEFAULT_TEMPLATES: "display-none" },
    });
    assert.equal(make.code, 0, make.stderr);
    const dir = t.dir("web");
    Deno.chmodSync(join(dir, "templates"), 0o777);
    t.startRunsvdir();
    assert.ok(await waitFor(() => isSupervised(dir), 10_000), "runsv did not come");
    const sv = await t.vm(["sv", "up", "web"]);
    assert.equal(sv.code, 0, sv.stdout + sv.stderr);
    const line = `web: fatal: Not starting "web": "${dir}/templates" is writable by others ` +
      `(mode 0777); fix: chmod go-w ${dir}/templates`;
    const current = join(dir, "log", "main", "current");
    const logged = () => {
      try {
        return Deno.readTextFileSync(current).includes(line);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return false;
        throw e;
      }
    };
    assert.ok(await waitFor(logged, 15_000), `not logged: ${line}`);
    const stop = await t.vm(["stop", "web"]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(stop.stdout, `"web" was not running; stopped its restart\n`);
  } finally {
    await t.close();
  }
});
