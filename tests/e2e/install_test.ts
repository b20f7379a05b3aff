// install.sh in a fresh HOME, as a new user would run it, and re-run.

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { REPO } from "../support/harness.ts";
import { FakeSystem, type FakeSystemOptions } from "../support/fake_system.ts";
import { withTempDir } from "../support/temp_dir.ts";

interface Snapshot {
  [path: string]: string;
}

/** Every file under `dir` with its content and mtime (symlinks by target). */
function snapshot(dir: string, out: Snapshot = {}): Snapshot {
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) snapshot(p, out);
    else if (e.isSymlink) out[p] = "-> " + Deno.readLinkSync(p);
    else out[p] = `${Deno.statSync(p).mtime?.getTime()} ${Deno.readTextFileSync(p)}`;
  }
  return out;
}

async function sh(cmd: string, args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(cmd, { args, env, clearEnv: true, stdin: "null" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("install.sh in a fresh HOME installs vm and .default; re-running changes nothing", async () => {
  await withTempDir(async (home) => {
    const env = {
      HOME: home,
      PATH: `${dirname(Deno.execPath())}:/usr/bin:/bin`,
      BINDIR: join(home, ".local/bin"),
      LIBDIR: join(home, ".local/lib/vm"),
    };
    const first = await sh(join(REPO, "install.sh"), [], env);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.match(first.stdout, /(compiled vm|vm launcher .*) installed: .*\/\.local\/bin\/vm/);
    const shipped = [...Deno.readDirSync(join(REPO, "default/templates"))].length;
    assert.match(first.stdout, new RegExp(`${shipped} template\\(s\\) added`));
    assert.match(first.stdout, /Next: start vmd/);
    const vm = join(home, ".local/bin/vm");
    const vmdir = join(home, ".local/share/runit-vm");
    // The service scripts name the installed binary by its absolute path.
    assert.equal(
      Deno.readTextFileSync(join(vmdir, ".default/run")),
      `#!/bin/sh\nexec 2>&1; exec ${vm} __run "$PWD"\n`,
    );
    // Every shipped template.
    assert.equal([...Deno.readDirSync(join(vmdir, ".default/templates"))].length, shipped);

    // vm works with a minimal PATH (as under a systemd user unit).
    const help = await sh(vm, ["help"], { HOME: home, PATH: "/usr/bin:/bin" });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^vm \d+\.\d+\.\d+ - QEMU virtual machines as runit services/);
    const list = await sh(vm, ["list", "--json"], { HOME: home, PATH: "/usr/bin:/bin" });
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), []);

    // The user edits a template; re-running install.sh keeps it and changes nothing else.
    const mem = join(vmdir, ".default/templates/mem");
    Deno.writeTextFileSync(mem, "-m 3G\n");
    const before = { ...snapshot(join(home, ".local")) };
    await new Promise((r) => setTimeout(r, 20));
    const second = await sh(join(REPO, "install.sh"), [], env);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    assert.match(second.stdout, /unchanged: .*\/\.local\/bin\/vm/);
    assert.match(second.stdout, /kept your edited template "mem"/);
    assert.equal(Deno.readTextFileSync(mem), "-m 3G\n");
    assert.deepEqual(snapshot(join(home, ".local")), before);
  });
});

Deno.test("install.sh refuses unknown arguments with exit 100", async () => {
  const r = await sh(join(REPO, "install.sh"), ["--frobnicate"], {
    HOME: "/nonexistent",
    PATH: "/usr/bin:/bin",
  });
  assert.equal(r.code, 100);
  assert.match(r.stderr, /unknown argument "--frobnicate"/);
});

// ./install.sh with stub package managers (tests/support/fake_system.ts): what
// it asks, prints and runs when runit and QEMU are missing.

/** The host's QEMU package on Debian (vm runs qemu-system-<host arch>). */
const QEMU_DEB = Deno.build.arch === "aarch64" ? "qemu-system-arm" : "qemu-system-x86";
const RUNTIME_DEBS = `runit qemu-utils ${QEMU_DEB}`;
const INSTALL_SH = join(REPO, "install.sh");

/** Runs install.sh on a fake system made with `opts`; returns the run and the stubs' calls. */
async function fakeInstall(
  opts: FakeSystemOptions,
  args: string[],
  run: { input?: string; terminal?: boolean; extra?: Record<string, string> } = {},
) {
  const f = FakeSystem.create(opts);
  try {
    const r = await f.run(INSTALL_SH, args, {
      ...run,
      extra: { BINDIR: join(f.root, "bin-vm"), LIBDIR: join(f.root, "lib-vm"), ...run.extra },
    });
    const installed = [...Deno.readDirSync(f.root)].some((e) => e.name.endsWith("-vm"));
    return { ...r, calls: f.calls(), installed };
  } finally {
    f.remove();
  }
}

Deno.test("install.sh as root on a pipe without --yes: prints the exact command, exit 111, installs nothing", async () => {
  const r = await fakeInstall({ uid: 0 }, []);
  assert.equal(r.code, 111, r.stdout + r.stderr);
  assert.equal(
    r.stderr,
    `install.sh: fatal: vm needs ${RUNTIME_DEBS}; to install, run: ` +
      `apt-get install -y ${RUNTIME_DEBS} (or: ./install.sh --yes)\n`,
  );
  assert.deepEqual(r.calls, []);
  assert.equal(r.installed, false);
});

Deno.test("install.sh --yes as root: apt-get update (empty lists), install of the missing packages, Deno with npm, then vm", async () => {
  const r = await fakeInstall({ uid: 0, lists: "empty", denoFromNpm: true }, ["--yes"]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(r.calls, [
    "apt-get update",
    `apt-get install -y ${RUNTIME_DEBS}`,
    "npm install -g deno",
  ]);
  assert.match(r.stdout, /\ninstall.sh: Deno is missing; installing it with npm\n/);
  assert.match(
    r.stdout,
    new RegExp(`^install.sh: running: apt-get update && apt-get install -y ${RUNTIME_DEBS}\n`),
  );
  assert.match(r.stdout, /(compiled vm|vm launcher .*) installed: .*\/bin-vm\/vm/);
  const shipped = [...Deno.readDirSync(join(REPO, "default/templates"))].length;
  assert.match(r.stdout, new RegExp(`${shipped} template\\(s\\) added`));
  assert.equal(r.installed, true);
});

Deno.test("install.sh not root and without sudo: the command to run as root, exit 111, nothing installed", async () => {
  const r = await fakeInstall({ uid: 1000 }, ["--yes"]);
  assert.equal(r.code, 111, r.stdout + r.stderr);
  assert.equal(
    r.stderr,
    `install.sh: fatal: vm needs ${RUNTIME_DEBS}; to install, run as root: ` +
      `apt-get install -y ${RUNTIME_DEBS}\n`,
  );
  assert.deepEqual(r.calls, []);
  assert.equal(r.installed, false);
});

Deno.test("install.sh on a terminal asks once; 'n' installs nothing (exit 1)", async () => {
  const r = await fakeInstall({ uid: 1000, sudo: true }, [], { terminal: true, input: "n\n" });
  // script(1) merges stdout and stderr; its own errors (no pseudo-terminal) go to stderr.
  const out = r.stdout.replaceAll("\r", "") + r.stderr;
  assert.equal(r.code, 1, out);
  const cmd = `sudo apt-get install -y ${RUNTIME_DEBS}`;
  assert.ok(
    out.includes(`install.sh: vm needs ${RUNTIME_DEBS}; run "${cmd}" now? [y/N] `),
    out,
  );
  assert.ok(out.includes(`install.sh: nothing installed; to install, run: ${cmd}\n`), out);
  assert.deepEqual(r.calls, ["sudo -n -v"], "sudo asked whether it lets the user in, no more");
  assert.equal(r.installed, false);
});

Deno.test("install.sh names Void's and Arch's packages; runit, not in Arch's repositories, stops it", async () => {
  const pkgs = Deno.build.arch === "aarch64" ? "qemu-system-aarch64" : "qemu-system-amd64";
  const xbps = await fakeInstall({ uid: 0, manager: "xbps-install" }, []);
  assert.equal(xbps.code, 111, xbps.stderr);
  assert.match(xbps.stderr, new RegExp(`run: xbps-install -Sy runit qemu-img ${pkgs} \\(or:`));
  const arch = await fakeInstall({ uid: 0, manager: "pacman" }, ["--yes"]);
  assert.equal(arch.code, 111, arch.stderr);
  assert.match(arch.stderr, /^install.sh: fatal: vm needs runsvdir, which pacman cannot install;/);
  assert.deepEqual([...xbps.calls, ...arch.calls], []);
});

Deno.test("install.sh for a user sudo does not let in: the command to run as root at once, no password asked (exit 111)", async () => {
  // Such a user used to get sudo's three password prompts before the failure.
  const r = await fakeInstall({ uid: 1000, sudo: "denied" }, [], {
    terminal: true,
    input: "y\nx\nx\nx\n",
  });
  const out = r.stdout.replaceAll("\r", "") + r.stderr;
  assert.equal(r.code, 111, out);
  assert.ok(
    out.includes(
      `install.sh: fatal: vm needs ${RUNTIME_DEBS}, and sudo does not let you install ` +
        `(Sorry, user u may not run sudo on host.); to install, run as root: ` +
        `apt-get install -y ${RUNTIME_DEBS}\n`,
    ),
    out,
  );
  assert.doesNotMatch(out, /password|\[y\/N\]/, "neither a question nor a password prompt");
  assert.deepEqual(r.calls, ["sudo -n -v"]);
  assert.equal(r.installed, false);
});
