// vmd as a service: the rendered systemd unit passes systemd-analyze verify,
// `vm service install runit|systemd` in temp HOME/XDG dirs (never the real
// ones) writes only its own files, and the runit user service run by a real
// runsvdir stops every VM gracefully on `sv down`.
// Slow (a systemd-analyze run and a runit user service): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { renderUnit } from "../../lib/actions/setup_default.ts";
import {
  checkKind,
  nextSteps,
  OWN_MARK,
  serviceTarget,
  serviceWillRun,
} from "../../lib/actions/service_install.ts";
import { readStatus } from "../../lib/runit/status.ts";
import { GUEST_POWERDOWN } from "../support/guest.ts";
import { allReady, leftovers, makeAutostart } from "../support/daemon.ts";
import { descendants, readOr, REPO, run, test, waitFor } from "../support/harness.ts";
import { findRunsvdir } from "../../lib/qemu/processes.ts";
import { withTempDir } from "../support/temp_dir.ts";

Deno.test("renderUnit: the vm path as is, quoted when it needs it, % doubled", () => {
  const unit = "ExecStart=@VM@ daemon\n";
  assert.equal(
    renderUnit(unit, "/home/a/.local/bin/vm"),
    "ExecStart=/home/a/.local/bin/vm daemon\n",
  );
  assert.equal(renderUnit(unit, "/opt/my vm/vm"), 'ExecStart="/opt/my vm/vm" daemon\n');
  assert.equal(renderUnit(unit, '/x"y\\z/vm'), 'ExecStart="/x\\"y\\\\z/vm" daemon\n');
  assert.equal(renderUnit(unit, "/a%b/vm"), "ExecStart=/a%%b/vm daemon\n");
});

Deno.test("serviceTarget: SVDIR or ~/service for runit, XDG_CONFIG_HOME or ~/.config for systemd", () => {
  assert.equal(serviceTarget("runit", { HOME: "/h" }), "/h/service/vmd");
  assert.equal(serviceTarget("runit", { HOME: "/h", SVDIR: "/sv" }), "/sv/vmd");
  assert.equal(serviceTarget("systemd", { HOME: "/h" }), "/h/.config/systemd/user/vmd.service");
  assert.equal(
    serviceTarget("systemd", { HOME: "/h", XDG_CONFIG_HOME: "/x" }),
    "/x/systemd/user/vmd.service",
  );
  assert.throws(() => serviceTarget("systemd", {}), /HOME is not set/);
  assert.equal(checkKind("runit"), "runit");
  assert.throws(
    () => checkKind("upstart"),
    /Unknown service manager "upstart"; use runit or systemd/,
  );
});

Deno.test("nextSteps: how to start, check and stop vmd", () => {
  const sd = nextSteps({
    kind: "systemd",
    path: "/x/vmd.service",
    action: "created",
    enabled: true,
  });
  assert.match(sd.join("\n"), /Enabled vmd\.service/);
  assert.match(sd.join("\n"), /systemctl --user start vmd/);
  const off = nextSteps({
    kind: "systemd",
    path: "/x/vmd.service",
    action: "created",
    enabled: false,
    systemctlError: '"systemctl" is not installed',
  });
  assert.match(off.join("\n"), /Could not enable it \("systemctl" is not installed\)/);
  assert.match(off.join("\n"), /systemctl --user daemon-reload && systemctl --user enable/);
  const rn = nextSteps({ kind: "runit", path: "/s/vmd", action: "created" });
  assert.match(rn.join("\n"), /vmd is not running: no runsvdir watches "\/s"/);
  assert.equal(serviceWillRun({ kind: "runit", path: "/s/vmd", action: "created" }), false);
  assert.equal(
    serviceWillRun({ kind: "runit", path: "/s/vmd", action: "created", runsvdir: 4 }),
    true,
  );
  assert.match(rn.join("\n"), /sv status \/s\/vmd/);
  const watched = nextSteps({ kind: "runit", path: "/s/vmd", action: "created", runsvdir: 42 });
  assert.match(watched[0] ?? "", /runsvdir PID 42 watches "\/s": it starts vmd within 5 s/);
});

/** Runs systemd-analyze --user verify on `unit` without a running systemd; returns code and stderr. */
async function verifyUnit(root: string, unit: string): Promise<{ code: number; stderr: string }> {
  const runtime = join(root, "xdg-runtime");
  Deno.mkdirSync(runtime, { recursive: true, mode: 0o700 });
  const r = await run("systemd-analyze", ["--user", "--man=no", "verify", unit], {
    PATH: "/usr/bin:/bin",
    HOME: join(root, "home"),
    XDG_RUNTIME_DIR: runtime,
    XDG_CONFIG_HOME: join(root, "home", ".config"),
  });
  return { code: r.code, stderr: r.stderr.trim() };
}

test("vmd.service: systemd-analyze verify accepts the installed unit (no systemd running)", async (t) => {
  const unit = Deno.readTextFileSync(join(t.vmdir, ".default/vmd.service"));
  assert.ok(unit.includes(OWN_MARK));
  for (
    const line of [
      `ExecStart=${t.vmExe} daemon`,
      "Type=simple",
      "KillMode=mixed",
      "TimeoutStopSec=300",
      "Restart=on-failure",
      "EnvironmentFile=-/etc/runit-vm/conf",
      "EnvironmentFile=-%h/.config/runit-vm/conf",
      "EnvironmentFile=-%E/runit-vm/conf",
      "WantedBy=default.target",
    ]
  ) {
    assert.ok(unit.split("\n").includes(line), `missing "${line}" in\n${unit}`);
  }
  const dir = join(t.root, "units");
  Deno.mkdirSync(dir);
  Deno.writeTextFileSync(join(dir, "vmd.service"), unit);
  const ok = await verifyUnit(t.root, join(dir, "vmd.service"));
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stderr, "", "no warning either");
  // verify would complain (with exit 0!) about a bad line: the empty stderr means something.
  Deno.writeTextFileSync(
    join(dir, "vmd.service"),
    unit.replace("KillMode=mixed", "KillMode=mixd"),
  );
  const bad = await verifyUnit(t.root, join(dir, "vmd.service"));
  assert.match(bad.stderr, /kill mode/i);
});

/** A fake `systemctl` that records its arguments and exits `code`, in `<root>/fakebin`. */
function fakeSystemctl(root: string, code: number): string {
  const bin = join(root, "fakebin");
  Deno.mkdirSync(bin, { recursive: true });
  Deno.writeTextFileSync(
    join(bin, "systemctl"),
    `#!/bin/sh\necho "$@" >> ${join(root, "systemctl.calls")}\n` +
      (code === 0
        ? "exit 0\n"
        : `echo "Failed to connect to bus: No medium found" >&2\nexit ${code}\n`),
    { mode: 0o755 },
  );
  return bin;
}

test("vm service install systemd: writes the unit, reloads and enables it; never replaces a foreign file", async (t) => {
  const home = join(t.root, "home");
  const xdg = join(t.root, "xdg");
  Deno.mkdirSync(home);
  const env = (code: number) => ({
    HOME: home,
    XDG_CONFIG_HOME: xdg,
    PATH: `${fakeSystemctl(t.root, code)}:${t.env.PATH}`,
  });
  const unitPath = join(xdg, "systemd/user/vmd.service");
  const r = await t.vm(["service", "install", "systemd"], { env: env(0) });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^vmd systemd user unit created: ${unitPath}\n`));
  assert.match(r.stdout, /Enabled vmd\.service/);
  assert.match(r.stdout, /Start it now: systemctl --user start vmd/);
  assert.equal(
    Deno.readTextFileSync(unitPath),
    Deno.readTextFileSync(join(t.vmdir, ".default/vmd.service")),
  );
  assert.equal(
    readOr(join(t.root, "systemctl.calls")),
    "--user daemon-reload\n--user enable vmd.service\n",
  );
  assert.deepEqual([...Deno.readDirSync(home)].map((e) => e.name), [], "nothing in HOME");

  // Again, with systemctl failing (no user systemd): unchanged, and it says what to run.
  const again = await t.vm(["service", "install", "systemd"], { env: env(1) });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /unit unchanged/);
  assert.match(again.stdout, /Could not enable it \(.*Failed to connect to bus/);
  assert.match(
    again.stdout,
    /systemctl --user daemon-reload && systemctl --user enable vmd\.service/,
  );

  // A unit the user wrote is left alone.
  const mine = "[Service]\nExecStart=/bin/true\n";
  Deno.writeTextFileSync(unitPath, mine);
  const refused = await t.vm(["service", "install", "systemd"], { env: env(0) });
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    /^vm: fatal: ".*vmd\.service" exists and was not written by "vm service install"/,
  );
  assert.equal(Deno.readTextFileSync(unitPath), mine);

  const usage = await t.vm(["service", "install", "upstart"], { env: env(0) });
  assert.equal(usage.code, 100);
  assert.match(usage.stderr, /Unknown service manager "upstart"/);
});

test("vm service install runit: creates ${SVDIR}/vmd; never replaces a foreign service", async (t) => {
  const svdir = join(t.root, "service");
  const r = await t.vm(["service", "install", "runit"], { env: { SVDIR: svdir } });
  // Installed, but no runsvdir watches the directory: nothing runs vmd (exit 1).
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, new RegExp(`^vmd runit service created: ${svdir}/vmd\n`));
  assert.match(r.stdout, /vmd is not running: no runsvdir watches/);
  const run = join(svdir, "vmd/run");
  assert.equal(
    Deno.readTextFileSync(run),
    Deno.readTextFileSync(join(t.vmdir, ".default/vmd/run")),
  );
  assert.match(Deno.readTextFileSync(run), new RegExp(`\nexec ${t.vmExe} daemon\n$`));
  assert.equal((Deno.statSync(run).mode ?? 0) & 0o777, 0o755);
  assert.deepEqual([...Deno.readDirSync(svdir)].map((e) => e.name), ["vmd"], "no temp dir left");
  assert.deepEqual([...Deno.readDirSync(join(svdir, "vmd"))].map((e) => e.name), ["run"]);
  const again = await t.vm(["service", "install", "runit"], { env: { SVDIR: svdir } });
  assert.equal(again.code, 1, again.stderr);
  assert.match(again.stdout, /runit service unchanged/);

  const other = join(t.root, "service2");
  Deno.mkdirSync(join(other, "vmd"), { recursive: true });
  Deno.writeTextFileSync(join(other, "vmd/run"), "#!/bin/sh\nexec runsvdir /somewhere\n");
  const refused = await t.vm(["service", "install", "runit"], { env: { SVDIR: other } });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /was not written by "vm service install"/);
  assert.equal(readOr(join(other, "vmd/run")), "#!/bin/sh\nexec runsvdir /somewhere\n");
});

test("the runit user service: vmd under runsvdir runs the VMs; sv down vmd stops them all gracefully", async (t) => {
  const dirs = await makeAutostart(t, [{ name: "a" }, { name: "b" }, {
    name: "c",
    wait: 3,
    deaf: true,
  }]);
  const svdir = join(t.root, "service");
  Deno.mkdirSync(svdir);
  const rsd = t.spawn("runsvdir", { args: [svdir] });
  const inst = await t.vm(["service", "install", "runit"], { env: { SVDIR: svdir } });
  assert.equal(inst.code, 0, inst.stderr);
  assert.match(inst.stdout, new RegExp(`runsvdir PID ${rsd.pid} watches`));
  const svc = join(svdir, "vmd");
  assert.ok(await waitFor(() => readStatus(svc)?.state === "run", 10_000), "vmd did not start");
  await allReady(dirs);
  assert.equal(findRunsvdir(t.vmdir).length, 1);

  const t0 = performance.now();
  const down = await run("sv", ["-w", "30", "down", svc]);
  const secs = (performance.now() - t0) / 1000;
  assert.equal(down.code, 0, down.stdout + down.stderr);
  assert.match(down.stdout, /^ok: down: /);
  assert.ok(secs < 3 + 3, `${secs} s`);
  const status = await run("sv", ["status", svc]);
  assert.match(status.stdout, /^down: /);
  assert.deepEqual(leftovers(t.vmdir), []);
  for (const dir of dirs.slice(0, 2)) {
    assert.ok(readOr(join(dir, "guest.log")).includes(GUEST_POWERDOWN), dir);
  }
  assert.match(readOr(join(dirs[2] ?? "", "log/main/current")), /did not power off within 3 s/);
});

Deno.test('install.sh --service runit: exit 1 while no runsvdir watches ~/service, never "Next: start vmd"; 0 once one does', async () => {
  // It used to report success while nothing ran the user's runsvdir.
  await withTempDir(async (home) => {
    const env = {
      HOME: home,
      PATH: `${Deno.execPath().replace(/\/[^/]*$/, "")}:/usr/bin:/bin`,
      BINDIR: join(home, ".local/bin"),
      LIBDIR: join(home, ".local/lib/vm"),
    };
    const install = async () => {
      const out = await new Deno.Command(join(REPO, "install.sh"), {
        args: ["--service", "runit"],
        env,
        clearEnv: true,
        stdin: "null",
      }).output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };
    let r = await install();
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`vmd runit service created: ${home}/service/vmd`));
    assert.match(r.stdout, /vmd is not running: no runsvdir watches/);
    assert.doesNotMatch(r.stdout, /done|Next: start vmd/);
    assert.equal(r.stderr, "install.sh: vm is installed, but vmd is not running (see above)\n");
    assert.equal(
      Deno.readTextFileSync(join(home, "service/vmd/run")).split("\n").at(-2),
      `exec ${home}/.local/bin/vm daemon`,
    );
    const rsd = new Deno.Command("runsvdir", {
      args: [join(home, "service")],
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      assert.ok(await waitFor(() => readStatus(join(home, "service/vmd")) !== undefined, 10_000));
      r = await install();
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`runsvdir PID ${rsd.pid} watches`));
      assert.match(r.stdout, /install.sh: done. Next: "vm make <name>" once vmd runs/);
      assert.doesNotMatch(r.stdout, /Next: start vmd/);
    } finally {
      const tree = descendants(rsd.pid);
      rsd.kill("SIGKILL");
      await rsd.status;
      tree.forEach(killIfThere);
    }
  });
});

/** SIGKILLs `pid` unless it is gone already. */
function killIfThere(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e; // else: gone already
  }
}
