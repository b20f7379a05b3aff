// The shipped defaults as a new user meets them, end to end: the default
// templates reach running on a headless host (with TCG where KVM cannot be
// opened; vm vnc's socket speaks RFB); a QEMU that dies at once is reported
// with its log's last lines; the order of config files and `vm config`;
// vm make's questions with their defaults. The `vm` CLI as a subprocess,
// real runsvdir (or vm daemon) and real QEMU with the shipped default
// templates (no guest OS: SeaBIOS finds nothing to boot and keeps running,
// which is all "running" needs). No DISPLAY and no audio server here, as on
// a headless host.
// Slow (ten seconds or more of guests): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { kvmProblem } from "../../lib/qemu/accel.ts";
import { findRunsvdir } from "../../lib/qemu/processes.ts";
import { readStatus } from "../../lib/runit/status.ts";
import { cmdlineOf, readOr, REPO, run, test, TestEnv, waitFor } from "../support/harness.ts";
import { skippable, WITHOUT_KVM } from "../support/skip.ts";
import { addTestUser, removeTestUser } from "../support/test_user.ts";

/** `vm daemon` with `env` over the test env; its stderr collected (stopped by t.close). */
function daemonWith(t: TestEnv, env: Record<string, string>) {
  const child = t.spawn(t.vmExe, { args: ["daemon"], env: { ...t.env, ...env }, stderr: "piped" });
  let text = "";
  (async () => {
    const dec = new TextDecoder();
    for await (const chunk of child.stderr) text += dec.decode(chunk, { stream: true });
  })().catch(() => {});
  return { pid: child.pid, log: () => text, status: child.status };
}

/** The env of a user with no config file at all (no VMCONF, an empty HOME). */
function fresh(t: TestEnv): Record<string, string> {
  const home = join(t.root, "home");
  Deno.mkdirSync(home, { recursive: true });
  return { VMCONF: "", HOME: home, XDG_CONFIG_HOME: "" };
}

/** `vm qmp <vm> query-status`'s status. */
async function qmpState(t: TestEnv, vm: string, env: Record<string, string>): Promise<string> {
  const r = await t.vm(["qmp", vm, "query-status"], { env });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).status;
}

test("shipped defaults, no VMCONF, no display, no sound: vm make x -y && vm start x reaches running", async (t) => {
  const env = fresh(t);
  assert.equal(Deno.env.get("DISPLAY") ?? "", "", "the test host has no display");
  let r = await t.vm(["make", "x", "-y"], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\(templates: display-none drive kvm mem vnc\)/);
  // As README says: without an ISO it stays down and says how to start it.
  assert.match(r.stdout, /^It is down: vmd is not running .*then "vm start x"$/m);
  const args = JSON.parse((await t.vm(["args", "x", "--json"], { env })).stdout) as string[];
  for (const want of ["-display none", "-vnc unix:./supervise/vnc", "-m 2G"]) {
    assert.ok(args.join(" ").includes(want), `${want} in ${args.join(" ")}`);
  }
  assert.ok(!args.some((a) => /audio|gtk|sdl/.test(a)), "no audio, no window");
  t.startRunsvdir();
  r = await t.vm(["start", "x"], { env });
  assert.equal(r.code, 0, r.stderr);
  const m = /^Started "x" in \d+\.\d s \(pid (\d+)\)\n$/.exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.equal(await qmpState(t, "x", env), "running");
  assert.deepEqual(cmdlineOf(Number(m[1])).slice(1), args.slice(1), "the argv vm args showed");
  r = await t.vm(["kill", "x"], { env });
  assert.equal(r.code, 0, r.stderr);
});

test("vm start and vm make report QEMU dying at once, with the log's last line, exit 1, VM left down", async (t) => {
  const env = fresh(t);
  t.startRunsvdir();
  // No PulseAudio server here: QEMU exits at once with the audio template.
  let r = await t.vm(["make", "pa", "-y", "--log", "--templates", "+audio-pa"], { env });
  assert.equal(r.code, 0, r.stderr);
  r = await t.vm(["start", "pa"], { env });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(r.stdout, "");
  // Where root cannot use KVM (no /dev/kvm), the log also holds __run's line saying so: then
  // the message quotes both lines under the one that names the cause.
  const audio = "audio: Could not init `pa' audio driver";
  const kvm = kvmProblem();
  assert.equal(
    r.stderr,
    `vm: fatal: VM "pa" did not start: QEMU exited at once (it is left down); its log ends: ${audio}\n` +
      (kvm === undefined
        ? ""
        : `    pa: KVM is not usable (${kvm}): running with TCG, which is much slower\n` +
          `    ${audio}\n`),
  );
  const st = readStatus(t.dir("pa"));
  assert.equal(st?.want, "down", "no crash loop left behind");
  assert.ok(await waitFor(() => readStatus(t.dir("pa"))?.state === "down", 10_000));

  // vm make with an ISO starts it once and waits the same way: here a failure…
  const iso = join(t.root, "installer.iso");
  Deno.writeTextFileSync(iso, "");
  r = await t.vm(["make", "pa2", iso, "-y", "--log", "--templates", "+audio-pa"], { env });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^Created VM "pa2"/m);
  assert.doesNotMatch(r.stdout, /Started/);
  assert.match(r.stderr, /did not start: QEMU exited at once; its log ends: audio: Could not init/);
  // …and with the defaults a start that is real: QEMU answers "running".
  r = await t.vm(["make", "inst", iso, "-y"], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^Started "inst" once from the ISO in \d+\.\d s \(pid \d+\); "vm vnc inst" shows its screen$/m,
  );
  assert.equal(await qmpState(t, "inst", env), "running");
  assert.deepEqual((await t.vm(["kill", "inst"], { env })).code, 0);
});

test("the config order for root too; vm config names the file and each origin; a missing VMDIR", async (t) => {
  const home = join(t.root, "home");
  const xdg = join(t.root, "xdg");
  const homeConf = join(home, ".config/runit-vm/conf");
  Deno.mkdirSync(join(home, ".config/runit-vm"), { recursive: true });
  Deno.mkdirSync(join(xdg, "runit-vm"), { recursive: true });
  Deno.writeTextFileSync(homeConf, "VMCONF_DEFAULT_DRIVE=7G\n");
  const env = { VMCONF: "", HOME: home, XDG_CONFIG_HOME: xdg };
  assert.equal(Deno.uid(), 0, "this test checks root's config order");
  // No XDG file: ~/.config's is read.
  let r = await t.vm(["config"], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^config ${xdg}/runit-vm/conf: not found$`, "m"));
  assert.match(r.stdout, new RegExp(`^config ${homeConf}: read$`, "m"));
  assert.match(r.stdout, /^VMCONF_DEFAULT_DRIVE=7G \(file\)$/m);
  assert.match(r.stdout, new RegExp(`^VMDIR=${t.vmdir} \\(env\\)$`, "m"));
  assert.match(r.stdout, /^VMCONF_DEFAULT_WAIT=10 \(default\)$/m);
  // XDG_CONFIG_HOME set and its file there: it comes first, even as root.
  Deno.writeTextFileSync(join(xdg, "runit-vm/conf"), "VMCONF_DEFAULT_WAIT=3\n");
  r = await t.vm(["config"], { env });
  assert.match(r.stdout, new RegExp(`^config ${xdg}/runit-vm/conf: read$`, "m"));
  assert.match(r.stdout, new RegExp(`^config ${homeConf}: not read`, "m"));
  assert.match(r.stdout, /^VMCONF_DEFAULT_WAIT=3 \(file\)$/m);
  assert.match(r.stdout, /^VMCONF_DEFAULT_DRIVE=20G \(default\)$/m);
  r = await t.vm(["make", "c", "-y"], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readOr(join(t.dir("c"), "wait")), "3\n", "vm make used the XDG file");

  // A VMDIR that does not exist: vm list says so (exit 0, empty), vm daemon makes it 0700.
  const missing = join(t.root, "new", "vms");
  const menv = { ...env, VMDIR: missing };
  r = await t.vm(["list"], { env: menv });
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(`^vm: VMDIR "${missing}" does not exist, so there are no VMs;`),
  );
  assert.equal(r.stdout, "NAME  STATE  PID  UPTIME  AUTOSTART  WAIT\n");
  const d = daemonWith(t, menv);
  try {
    assert.ok(await waitFor(() => d.log().includes("supervising"), 15_000), d.log());
    assert.match(d.log(), new RegExp(`created VMDIR "${missing}" \\(mode 0700\\)`));
    assert.equal((Deno.statSync(missing).mode ?? 0) & 0o777, 0o700);
    // It is a VMDIR like any other: set up (as ./install.sh does), a VM made there.
    r = await t.vm(["__setup", join(REPO, "default"), t.vmExe], { env: menv });
    assert.equal(r.code, 0, r.stderr);
    r = await t.vm(["make", "late", "-y"], { env: menv });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /It is down; start it with "vm start late"/);
    assert.equal((await t.vm(["list"], { env: menv })).stderr, "");
  } finally {
    Deno.kill(d.pid, "SIGTERM");
    await d.status;
  }
});

test("prompts show their defaults; input ending early creates nothing (exit 100); -y needs none", async (t) => {
  const env = fresh(t);
  t.startRunsvdir();
  const iso = join(t.root, "i.iso");
  Deno.writeTextFileSync(iso, "");
  // Two answers of four, then the end of input (as Ctrl-D): nothing made, nothing started.
  let r = await t.vm(["make", "deb", iso], { env, stdin: "2G\n5\n" });
  assert.equal(r.code, 100, r.stdout + r.stderr);
  assert.match(r.stdout, /Disk image size for deb\? \[20G\] /);
  assert.match(r.stdout, /Safe poweroff wait time for deb\? \[10 s\] /);
  assert.match(r.stdout, /Log deb\? \[y\/N\] /);
  assert.match(
    r.stderr,
    /^vm: fatal: Input ended before the question "Log deb\?" was answered; VM "deb" was not created/,
  );
  assert.deepEqual([...Deno.readDirSync(t.vmdir)].map((e) => e.name), [".default"]);
  // No input at all: the same, at the first question.
  r = await t.vm(["make", "deb"], { env });
  assert.equal(r.code, 100);
  assert.match(r.stderr, /before the question "Disk image size for deb\?"/);
  // Every answer given (empty = default); the templates answer drops and adds.
  r = await t.vm(["make", "deb"], { env, stdin: "\n\ny\n-vnc +serial-console\n" });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Templates for deb\? \[display-none drive kvm mem vnc\] /);
  assert.match(r.stdout, /\(templates: display-none drive kvm mem serial-console\)/);
  assert.ok(Deno.statSync(join(t.dir("deb"), "log")).isDirectory);
  // --no-default-templates, and -y with no input at all.
  r = await t.vm(["make", "bare", "-y", "--no-default-templates", "--templates", "drive mem"], {
    env,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\(templates: drive mem\)/);
  const list = (await run("ls", [join(t.dir("bare"), "templates")])).stdout;
  assert.equal(list, "drive\nmem\n");
});

/** Runs `cmd args` as `uid:gid` with exactly `env`; its output. */
async function runAs(
  ids: { uid: number; gid: number },
  cmd: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(cmd, { args, env, clearEnv: true, stdin: "null", ...ids })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Connects to the unix socket `path` and returns the first 12 bytes VNC's server sends. */
async function rfbGreeting(path: string): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path });
  try {
    const buf = new Uint8Array(12);
    let got = 0;
    while (got < buf.length) {
      const n = await conn.read(buf.subarray(got));
      if (n === null) break;
      got += n;
    }
    return new TextDecoder().decode(buf.subarray(0, got));
  } finally {
    conn.close();
  }
}

Deno.test({
  ...skippable(
    "as a user who cannot open /dev/kvm the default VM runs with TCG, saying so once; vm vnc's socket speaks RFB",
    Deno.uid() === 0 ? undefined : "needs root (useradd; unshare for a /dev/kvm only root opens)",
  ),
  async fn() {
    const { name: user, ...ids } = await addTestUser("vmfh");
    const t = TestEnv.create();
    try {
      const env = {
        ...t.env,
        ...fresh(t),
        DENO_DIR: join(t.root, "deno"),
        USER: user,
      };
      assert.equal((await run("chown", ["-R", `${ids.uid}:${ids.gid}`, t.root])).code, 0);
      const vm = (...args: string[]) => runAs(ids, t.vmExe, args, env);
      // Whatever this machine has, the user's runsvdir (and so QEMU) sees a /dev/kvm only root
      // may open, in a mount namespace of its own (tests/support/without_kvm.sh).
      const asUser = [
        WITHOUT_KVM,
        "--unusable",
        "setpriv",
        `--reuid=${ids.uid}`,
        `--regid=${ids.gid}`,
        "--clear-groups",
      ];
      const probe = await run(
        asUser[0] ?? "",
        [...asUser.slice(1), "sh", "-c", "exec 3<>/dev/kvm"],
        env,
      );
      assert.notEqual(probe.code, 0, "the user cannot open /dev/kvm");
      assert.match(probe.stderr, /Permission denied/);
      let r = await vm("make", "x", "-y", "--log");
      assert.equal(r.code, 0, r.stderr);
      t.spawn(asUser[0] ?? "", { args: [...asUser.slice(1), "runsvdir", t.vmdir], env });
      assert.ok(await waitFor(() => findRunsvdir(t.vmdir).length === 1, 10_000), "runsvdir runs");
      r = await vm("start", "x");
      assert.equal(r.code, 0, r.stderr);
      const pid = Number(/\(pid (\d+)\)/.exec(r.stdout)?.[1]);
      assert.equal(JSON.parse((await vm("qmp", "x", "query-status")).stdout).status, "running");
      const argv = cmdlineOf(pid);
      assert.ok(argv.join(" ").includes("-accel tcg"), argv.join(" "));
      assert.ok(!argv.includes("kvm"), argv.join(" "));
      const log = join(t.dir("x"), "log/main/current");
      assert.ok(await waitFor(() => readOr(log).includes("TCG"), 5000), readOr(log));
      const notes = readOr(log).split("\n").filter((l) => l.includes("KVM is not usable"));
      assert.equal(notes.length, 1, readOr(log));
      assert.match(
        notes[0] ?? "",
        /^\S+ x: KVM is not usable \(no permission to open \/dev\/kvm; add the user to its group\): running with TCG, which is much slower$/,
      );
      // vm vnc: the recipe names the socket; it serves VNC (RFB 3.8).
      r = await vm("vnc", "x");
      assert.equal(r.code, 0, r.stderr);
      const socket = /^ {2}(\/\S+\/supervise\/vnc)$/m.exec(r.stdout)?.[1] ?? "";
      assert.equal(socket, join(t.dir("x"), "supervise/vnc"));
      assert.match(r.stdout, new RegExp(`^  ssh -N -L 5900:${socket} ${user}@\\S+$`, "m"));
      assert.equal(await rfbGreeting(socket), "RFB 003.008\n");
      assert.equal((await vm("kill", "x")).code, 0);
    } finally {
      await t.close();
      await removeTestUser(user);
    }
  },
});
