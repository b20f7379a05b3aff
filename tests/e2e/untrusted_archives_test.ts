/**
 * Untrusted archives and libvirt domains, as a user meets them:
 * `vm import tar` refuses an archive whose image has a data
 * file, a manifest `external` outside the image cache or an image the
 * manifest does not list backed by a host file (one line, exit 100, nothing
 * left), and says so when VMDIR does not exist; `vm import libvirt` (a fake
 * `virsh` on PATH) refuses a domain whose disk has a data file; both list
 * hooks and arguments that reach the host and keep them disabled unless
 * `--trust` (`vm args` runs no hook of theirs). `vm export tar FILE` writes
 * through a `FILE.new` of its own (another user's replaced, a symlink
 * refused), cleans up on SIGTERM, and what a kill -9 of an export or an
 * import leaves, `vm doctor` finds and `--fix` removes. No guest is booted.
 */

import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { run, test, type TestEnv, waitFor } from "../support/harness.ts";
import { evilImages, img } from "../support/evil_images.ts";
import { quoteWord } from "../../lib/text/shell_words.ts";

/** The one `vm: fatal:` line of a failed run. */
function oneFatalLine(stderr: string): string {
  const lines = stderr.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1, `expected one line, got: ${JSON.stringify(stderr)}`);
  assert.match(lines[0] ?? "", /^vm: fatal: /);
  return lines[0] ?? "";
}

/** The names in VMDIR. */
function names(t: TestEnv): string[] {
  return [...Deno.readDirSync(t.vmdir)].map((e) => e.name).sort();
}

/**
 * An archive as `vm export tar` lays it out, made by hand: `manifest.json`
 * with `images`, and `vm/` holding `files` (text, or `{ copy }` of a file).
 */
async function handArchive(
  t: TestEnv,
  name: string,
  images: unknown[],
  files: Record<string, string | { copy: string }>,
): Promise<string> {
  const root = join(t.root, `hand-${name}`);
  Deno.mkdirSync(join(root, "vm", "templates"), { recursive: true });
  const manifest = { format: "vm-export-tar", version: 1, name, images };
  Deno.writeTextFileSync(join(root, "manifest.json"), JSON.stringify(manifest));
  for (const [path, what] of Object.entries(files)) {
    if (typeof what === "string") Deno.writeTextFileSync(join(root, "vm", path), what);
    else Deno.copyFileSync(what.copy, join(root, "vm", path));
  }
  const tar = join(t.root, `${name}.tar`);
  const r = await run("tar", ["--format=gnu", "-cf", tar, "-C", root, "manifest.json", "vm"]);
  assert.equal(r.code, 0, r.stderr);
  return tar;
}

const DRIVE = { "templates/drive": "-drive file=./drive.qcow2,if=virtio,format=qcow2\n" };

test("import tar refuses images that reach host files, leaving nothing", async (t) => {
  const evil = await evilImages(join(t.root, "evil"), join(t.root, "secret"));
  const dataFile = await handArchive(t, "df", [{ path: "drive.qcow2", format: "qcow2" }], {
    ...DRIVE,
    "drive.qcow2": { copy: evil.dataFile },
  });
  const overlay = join(t.root, "overlay.qcow2");
  await img([
    "create",
    "-q",
    "-f",
    "qcow2",
    "-u",
    "-b",
    "/old/base.raw",
    "-F",
    "raw",
    overlay,
    "1M",
  ]);
  const external = await handArchive(t, "ext", [
    { path: "drive.qcow2", format: "qcow2", backing: 1 },
    { external: relative(t.vmdir, evil.secret), format: "raw" },
  ], { ...DRIVE, "drive.qcow2": { copy: overlay } });
  const unlisted = await handArchive(t, "unl", [], {
    "templates/drive": "-drive file=./other.qcow2\n",
    "other.qcow2": { copy: evil.backingOut },
  });
  const cases: [string, number, RegExp][] = [
    [dataFile, 100, /The archive's "vm\/drive\.qcow2" names an external data file ".*shadow"/],
    [external, 100, /names backing image ".*secret\/shadow", outside the image cache ".*\.images"/],
    [unlisted, 100, /The archive's "vm\/other\.qcow2" has backing file ".*shadow"; backing files/],
  ];
  for (const [tar, code, why] of cases) {
    const r = await t.vm(["import", "tar", tar, "x"]);
    assert.equal(r.code, code, r.stderr);
    assert.match(oneFatalLine(r.stderr), why);
    assert.deepEqual(names(t), [".default"], `${tar}: nothing left`);
  }
});

test("import tar into a VMDIR that does not exist says so, not an internal path", async (t) => {
  assert.equal((await t.vm(["make", "x", "--disk", "1M", "--no-log", "-y"])).code, 0);
  const tar = join(t.root, "x.tar");
  assert.equal((await t.vm(["export", "tar", "x", tar])).code, 0);
  const nowhere = join(t.root, "new", "place");
  const r = await t.vm(["import", "tar", tar, "y"], { env: { VMDIR: nowhere } });
  assert.equal(r.code, 111, r.stderr);
  assert.match(
    oneFatalLine(r.stderr),
    new RegExp(`VMDIR "${nowhere}" does not exist; run \\./install\\.sh .*or set VMDIR`),
  );
  assert.doesNotMatch(r.stderr, /\.untar-|os error/);
});

/** A `virsh` on PATH answering for one shut-off domain whose QEMU arguments are `argv`. */
function fakeVirsh(t: TestEnv, argv: string): void {
  const native = `LC_ALL=C /usr/bin/qemu-system-x86_64 -name guest=d ${argv}`;
  Deno.writeTextFileSync(
    join(t.root, "bin", "virsh"),
    `#!/bin/sh\nfor a in "$@"; do case "$a" in\n` +
      `domstate) echo "shut off"; exit 0;;\n` +
      `dumpxml) echo "<domain type='qemu'><name>d</name><devices/></domain>"; exit 0;;\n` +
      `domxml-to-native) echo ${quoteWord(native)}; exit 0;;\nesac; done\nexit 1\n`,
    { mode: 0o755 },
  );
}

test("import libvirt refuses a disk with a data file, leaving nothing", async (t) => {
  const evil = await evilImages(join(t.root, "evil"), join(t.root, "secret"));
  for (const [disk, why] of [[evil.dataFile, /names an external data file/], [evil.vmdk, /vmdk/]]) {
    fakeVirsh(t, `-m 128 -drive file=${disk},format=qcow2,if=virtio`);
    const bad = await t.vm(["import", "libvirt", "d", "bad"]);
    assert.equal(bad.code, 100, bad.stderr);
    assert.match(oneFatalLine(bad.stderr), why as RegExp);
    assert.deepEqual(names(t), [".default"]);
  }
});

test("import libvirt: -plugin and -incoming are listed and disabled unless --trust", async (t) => {
  const disk = join(t.root, "disks", "d.qcow2");
  Deno.mkdirSync(join(t.root, "disks"));
  await img(["create", "-q", "-f", "qcow2", disk, "1M"]);
  fakeVirsh(
    t,
    `-m 128 -drive file=${disk},format=qcow2,if=virtio -plugin file=/tmp/evil.so ` +
      "-incoming tcp:0.0.0.0:4447 -sandbox on,spawn=deny",
  );
  const r = await t.vm(["import", "libvirt", "d", "good"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /^vm import libvirt: templates\/libvirt: -plugin file=\/tmp\/evil\.so: .*shared library.*: disabled \(line commented out\); .*--trust/m,
  );
  assert.match(
    r.stderr,
    /^vm import libvirt: templates\/libvirt: -incoming tcp:0\.0\.0\.0:4447: .*disabled/m,
  );
  const args = await t.vm(["args", "good"]);
  assert.equal(args.code, 0, args.stderr);
  assert.doesNotMatch(args.stdout, /-plugin|-incoming/);
  assert.match(args.stdout, / -sandbox on,spawn=deny /, "libvirt's sandbox is kept");
  const trusted = await t.vm(["import", "libvirt", "d", "trusted", "--trust"]);
  assert.equal(trusted.code, 0, trusted.stderr);
  assert.match(trusted.stderr, /-plugin file=\/tmp\/evil\.so: .*: kept \(--trust\)/);
  assert.match((await t.vm(["args", "trusted"])).stdout, / -plugin file=\/tmp\/evil\.so /);
});

test("import tar keeps an archive's hooks and host-reaching arguments disabled unless --trust", async (t) => {
  const marker = join(t.root, "hook-ran");
  assert.equal((await t.vm(["make", "h", "--disk", "1M", "--no-log", "-y"])).code, 0);
  Deno.writeTextFileSync(join(t.dir("h"), "hooks"), `pre_qemu() { id > ${quoteWord(marker)}; }\n`);
  Deno.writeTextFileSync(
    join(t.dir("h"), "templates", "evil"),
    "-plugin file=/tmp/evil.so\n-incoming tcp:0.0.0.0:4447\n-initrd /etc/hostname\n",
  );
  const tar = join(t.root, "h.tar");
  const exp = await t.vm(["export", "tar", "h", tar]);
  assert.equal(exp.code, 0, exp.stderr);
  const r = await t.vm(["import", "tar", tar, "h2"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /^vm import tar: hooks: a shell file run on every start.*: disabled \(renamed hooks\.untrusted\)/m,
  );
  for (const line of [1, 2, 3]) {
    assert.match(
      r.stderr,
      new RegExp(
        `^vm import tar: templates/evil:${line}: .*disabled \\(line commented out\\)`,
        "m",
      ),
    );
  }
  assert.match(
    r.stderr,
    /templates\/evil:3: -initrd \/etc\/hostname: it names "\/etc\/hostname"/,
  );
  assert.ok(Deno.statSync(join(t.dir("h2"), "hooks.untrusted")).isFile);
  assert.throws(() => Deno.lstatSync(join(t.dir("h2"), "hooks")), Deno.errors.NotFound);
  const args = await t.vm(["args", "h2"]);
  assert.equal(args.code, 0, args.stderr);
  assert.doesNotMatch(args.stdout, /-plugin|-incoming|\/etc\/hostname/);
  assert.throws(() => Deno.lstatSync(marker), Deno.errors.NotFound, "no hook of the archive ran");

  const trusted = await t.vm(["import", "tar", tar, "h3", "--trust"]);
  assert.equal(trusted.code, 0, trusted.stderr);
  assert.match(trusted.stderr, /^vm import tar: hooks: .*: kept \(--trust\)$/m);
  const targs = await t.vm(["args", "h3"]);
  assert.match(targs.stdout, / -plugin file=\/tmp\/evil\.so /);
  assert.ok(Deno.statSync(marker).isFile, "trusted: its pre_qemu runs");
});

/**
 * Makes every `tar` vm runs from now on hang without doing anything (a `tar`
 * first on PATH; its directory is the test's, so closing the env ends it):
 * an export or import is surely under way when a test interrupts it.
 */
function stuckTar(t: TestEnv): void {
  Deno.writeTextFileSync(
    join(t.root, "bin", "tar"),
    `#!/bin/sh\ncd ${quoteWord(join(t.root, "bin"))} && exec sleep 60\n`,
    { mode: 0o755 },
  );
}

/** Starts `vm <args>` (its PID is vm's: the launcher execs). */
function spawnVm(t: TestEnv, args: string[]): Deno.ChildProcess {
  return new Deno.Command(t.vmExe, {
    args,
    env: t.env,
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

test("export tar FILE writes a FILE.new of its own: another user's replaced, a symlink refused", async (t) => {
  assert.equal((await t.vm(["make", "x", "--disk", "1M", "--no-log", "-y"])).code, 0);
  const out = (n: string) => join(t.root, n);
  Deno.writeTextFileSync(out("p1.tar.new"), "planted");
  Deno.chmodSync(out("p1.tar.new"), 0o666);
  Deno.chownSync(out("p1.tar.new"), 65534, 65534);
  const ok = await t.vm(["export", "tar", "x", out("p1.tar")]);
  assert.equal(ok.code, 0, ok.stderr);
  const st = Deno.lstatSync(out("p1.tar"));
  assert.deepEqual([st.uid, (st.mode ?? 0) & 0o777], [Deno.uid(), 0o600]);
  assert.throws(() => Deno.lstatSync(out("p1.tar.new")), Deno.errors.NotFound);

  Deno.writeTextFileSync(out("victim"), "precious\n");
  Deno.symlinkSync(out("victim"), out("p2.tar.new"));
  const link = await t.vm(["export", "tar", "x", out("p2.tar")]);
  assert.equal(link.code, 111, link.stderr);
  assert.match(oneFatalLine(link.stderr), /p2\.tar\.new" is a symbolic link/);
  assert.equal(Deno.readTextFileSync(out("victim")), "precious\n");
  assert.deepEqual(names(t), [".default", "x"]);
});

test("an export cleans up on TERM; what kill -9 of an export or import leaves, doctor finds and fixes", async (t) => {
  t.startRunsvdir(); // a vmd: doctor finds nothing but the leftovers
  assert.equal((await t.vm(["make", "x", "--disk", "1M", "--no-log", "-y"])).code, 0);
  const out = (n: string) => join(t.root, n);
  assert.equal((await t.vm(["export", "tar", "x", out("p1.tar")])).code, 0);
  stuckTar(t);
  const term = spawnVm(t, ["export", "tar", "x", out("p3.tar")]);
  assert.ok(await waitFor(() => exists(out("p3.tar.new")), 10_000), "export under way");
  term.kill("SIGTERM");
  const ended = await term.output();
  assert.notEqual(ended.code, 0);
  assert.ok(!exists(out("p3.tar.new")) && !exists(out("p3.tar")), "nothing of it left");
  assert.deepEqual(names(t), [".default", "x"]);

  const killed = spawnVm(t, ["export", "tar", "x", out("p4.tar")]);
  const record = join(t.vmdir, `.export-x-${killed.pid}`, "outside.json");
  assert.ok(await waitFor(() => exists(record), 10_000), "export under way, its FILE.new recorded");
  killed.kill("SIGKILL");
  await killed.output();
  const line = new RegExp(
    `^".*/\\.export-x-${killed.pid}" and "${out("p4.tar.new")}" \\(.*\\) are left by an ` +
      `interrupted "vm export tar x" \\(PID ${killed.pid}, gone\\); fix: vm doctor --fix$`,
    "m",
  );
  const doctor1 = await t.vm(["doctor"]);
  assert.match(doctor1.stdout, line);
  assert.match((await t.vm(["list"])).stderr, /1 unfinished operation holds/);

  const imp = spawnVm(t, ["import", "tar", out("p1.tar"), "y"]);
  const untar = `.untar-y-${imp.pid}`;
  assert.ok(await waitFor(() => names(t).includes(untar), 10_000), "import under way");
  imp.kill("SIGKILL");
  await imp.output();
  const doctor = await t.vm(["doctor"]);
  assert.equal(doctor.code, 1);
  assert.match(
    doctor.stdout,
    new RegExp(`${untar}" \\(.*\\) is left by an interrupted "vm import tar y"`),
  );
  const fix = await t.vm(["doctor", "--fix"]);
  assert.equal(fix.code, 0, fix.stdout);
  assert.match(fix.stdout, /^Removed ".*\.export-x-\d+" and ".*p4\.tar\.new" \(/m);
  assert.ok(!exists(out("p4.tar.new")));
  assert.deepEqual(names(t), [".default", "x"]);
});

/** Whether `path` exists (a symlink too). */
function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
