// Inspection and management commands against a real runsvdir, real QEMU and
// the real test guest: vm args is what __run executes, and destroy, rename,
// clone, disk and snapshot refuse a running VM and do what they say on a
// stopped one (checked with qemu-img info and by booting the results).
// Slow (half a minute or more): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { findByCwd } from "../../lib/os/proc.ts";
import { type ImageInfo } from "../../lib/qemu/img.ts";
import { isSupervised, readStatus } from "../../lib/runit/status.ts";
import { splitWords } from "../../lib/text/shell_words.ts";
import { GUEST_READY } from "../support/guest.ts";
import {
  alive,
  cmdlineOf,
  qemuUp,
  readOr,
  run,
  sv,
  svDown,
  test,
  waitFor,
} from "../support/harness.ts";

const BOOT_MS = 60_000;
/** The test guest's templates plus the VM's disk, so disk operations matter to QEMU. */
const DISK = "-drive file=./drive.qcow2,if=virtio,format=qcow2\n";

/** Waits until `text` appears in `file` after its first `from` characters. */
function textAfter(file: string, text: string, from: number): Promise<boolean> {
  return waitFor(() => readOr(file).slice(from).includes(text), BOOT_MS);
}

/** Boots the VM in `dir` and waits for the guest; returns QEMU's PID. */
async function boot(dir: string): Promise<number> {
  const log = join(dir, "guest.log");
  const from = readOr(log).length;
  await sv("up", dir);
  const pid = await qemuUp(dir);
  assert.ok(await textAfter(log, GUEST_READY, from), `no ${GUEST_READY}: ${readOr(log)}`);
  return pid;
}

async function info(path: string): Promise<ImageInfo> {
  const r = await run("qemu-img", ["info", "-U", "--output=json", path]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as ImageInfo;
}

function words(line: string): string[] {
  return splitWords(line, { file: "stdout", lookup: () => undefined });
}

async function supervisedAll(...dirs: string[]): Promise<void> {
  assert.ok(await waitFor(() => dirs.every((d) => isSupervised(d)), 10_000), "runsv for all");
}

test("vm args is argument for argument what __run executes; once is kept until the start", async (t) => {
  const dir = await t.makeGuestVm("ga", { extra: DISK + '-name "$GUEST_NAME"\n' });
  Deno.writeTextFileSync(
    join(dir, "hooks"),
    `pre_qemu() { export GUEST_NAME="named by pre_qemu"; }\n`,
  );
  Deno.writeTextFileSync(join(dir, "templates", "once"), `-smbios 'type=1,serial=once only'\n`);
  t.startRunsvdir();
  await supervisedAll(dir);

  const lines = await t.vm(["args", "ga", "--lines"]);
  assert.equal(lines.code, 0, lines.stderr);
  const argv = lines.stdout.trimEnd().split("\n").map((l) => {
    const w = words(l);
    assert.equal(w.length, 1, `one argument per line: ${l}`);
    return w[0] ?? "";
  });
  const one = await t.vm(["args", "ga"]);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(one.stdout.trimEnd().split("\n").length, 1);
  assert.deepEqual(words(one.stdout), argv);
  assert.ok(argv.includes("named by pre_qemu"), argv.join("|"));
  assert.ok(argv.includes("type=1,serial=once only"), argv.join("|"));
  assert.ok(argv.includes("unix:supervise/qmp,server=on,wait=off"), "relative socket path");
  // vm args consumed nothing.
  assert.equal(
    readOr(join(dir, "templates", "once")),
    "-smbios 'type=1,serial=once only'\n",
  );

  await sv("up", dir);
  const pid = await qemuUp(dir);
  assert.deepEqual(cmdlineOf(pid), argv);
  assert.equal(Deno.readLinkSync(`/proc/${pid}/cwd`), dir);
  // The start consumed once; vm args now shows the next start, without it.
  assert.throws(() => Deno.statSync(join(dir, "templates", "once")), Deno.errors.NotFound);
  const next = await t.vm(["args", "ga"]);
  assert.deepEqual(
    words(next.stdout),
    argv.filter((a) => a !== "type=1,serial=once only" && a !== "-smbios"),
  );
});

test("vm args fails exactly as __run does: the same line, exit 100 for templates, 111 for QEMU", async (t) => {
  const bad = await t.makeGuestVm("bad");
  Deno.writeTextFileSync(join(bad, "templates", "evil"), "-name ok\n-name $(touch pwned)\n");
  const hook = await t.makeGuestVm("hook");
  Deno.writeTextFileSync(join(hook, "hooks"), "pre_qemu() { return 3; }\n");
  t.startRunsvdir();
  await supervisedAll(bad, hook);

  const r = await t.vm(["args", "bad"]);
  assert.equal(r.code, 100);
  assert.equal(r.stdout, "");
  const line =
    'vm: fatal: templates/evil:2: Command substitution "$(…)" is not allowed; write the value itself';
  assert.equal(r.stderr, line + "\n");
  await sv("up", bad);
  const log = join(bad, "log/main/current");
  assert.ok(await waitFor(() => readOr(log).includes("templates/evil:2"), 10_000), readOr(log));
  // The same message; __run's lines are named by the VM instead of "vm".
  assert.equal(readOr(log).split("\n")[0]?.replace(/^\S+ /, ""), line.replace(/^vm: /, "bad: "));
  await sv("down", bad);

  const h = await t.vm(["args", "hook"]);
  assert.equal(h.code, 111);
  assert.match(h.stderr, /vm: fatal: hooks: pre_qemu failed \(exit 3\)\n/);
  assert.match(h.stderr, /vm: fatal: Hooks in ".*\/hook\/hooks" failed \(exit 111\)/);

  // vm args uses vmd's environment (what __run gets), not the caller's.
  Deno.removeSync(join(bad, "templates", "evil"));
  const mine = await t.vm(["args", "bad"], { env: { VMCONF_QEMU: "/nonexistent" } });
  assert.equal(mine.code, 0, mine.stderr);
  assert.match(mine.stdout, /^\/\S+\/qemu-system-x86_64 /);
  Deno.writeTextFileSync(t.conf, "VMCONF_QEMU=/nonexistent\n");
  const q = await t.vm(["args", "bad"]);
  assert.equal(q.code, 111);
  assert.equal(
    q.stderr,
    'vm: fatal: QEMU binary "/nonexistent" does not exist or is not executable; fix VMCONF_QEMU\n',
  );
  assert.throws(() => Deno.statSync(join(bad, "pwned")), Deno.errors.NotFound);
});

test("destroy, rename, clone, disk and snapshot refuse a running VM and leave it running", async (t) => {
  const dir = await t.makeGuestVm("busy", { extra: DISK });
  // Made before vmd runs, so it is not started once.
  const idle = await t.makeGuestVm("idle", { extra: DISK });
  t.startRunsvdir();
  await supervisedAll(dir);
  const pid = await boot(dir);
  const before = await info(join(dir, "drive.qcow2"));
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  const entries = () => [...Deno.readDirSync(t.vmdir)].map((e) => e.name).sort();
  const vmdirBefore = entries();

  const refused = [
    ["destroy", "busy", "--yes"],
    ["destroy", "busy"],
    ["rename", "busy", "other"],
    ["clone", "busy", "copy"],
    ["clone", "busy", "copy", "--linked"],
    ["disk", "busy", "resize", "+8M"],
    ["snapshot", "busy", "create", "s1"],
    ["snapshot", "busy", "apply", "s1"],
    ["snapshot", "busy", "delete", "s1"],
  ];
  for (const args of refused) {
    const r = await t.vm(args, { stdin: "y\n" });
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
    assert.match(
      r.stderr,
      /^vm: fatal: VM "busy" is running; stop it first with "vm stop busy" to .+\n$/,
      args.join(" "),
    );
    assert.equal(r.stdout, "", args.join(" "));
  }
  // Untouched: still the same QEMU, same files, same disk, nothing new in VMDIR.
  assert.ok(alive(pid));
  assert.equal(readStatus(dir)?.state, "run");
  assert.equal(readStatus(dir)?.pid, pid);
  assert.deepEqual(entries(), vmdirBefore);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), files);
  const after = await info(join(dir, "drive.qcow2"));
  assert.equal(after["virtual-size"], before["virtual-size"]);
  assert.equal(after.snapshots, undefined);
  // Reading is fine while it runs.
  const i = await t.vm(["info", "busy", "--json"]);
  assert.equal(i.code, 0, i.stderr);
  const v = JSON.parse(i.stdout);
  assert.equal(v.state.state, "run");
  assert.equal(v.state.pid, pid);
  assert.equal(v.disks[0].file, "drive.qcow2");
  assert.equal(v.disks[0].info["virtual-size"], 16 * 2 ** 20);
  const text = await t.vm(["info", "busy"]);
  assert.match(text.stdout, new RegExp(`^state: +run \\(PID ${pid}, up \\d+[smh]`, "m"));
  assert.equal((await t.vm(["snapshot", "busy", "list"])).code, 0);

  // A QEMU working in a VM's directory without runsv counts as running too.
  const lonePid = t.spawn("qemu-system-x86_64", {
    args: ["-accel", "tcg", "-display", "none", "-S", "-m", "16M", "-drive", "file=drive.qcow2"],
    cwd: idle,
  }).pid;
  assert.ok(await waitFor(() => Deno.readLinkSync(`/proc/${lonePid}/cwd`) === idle, 5000));
  const r = await t.vm(["destroy", "idle", "--yes"]);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `vm: fatal: VM "idle" is running: a QEMU not started by runsv (PID ${lonePid}) works ` +
      `in "${idle}"; quit it first to destroy it\n`,
  );
  assert.ok(Deno.statSync(idle).isDirectory);
});

test("on a stopped VM: resize, snapshots, full and linked clones, rename, destroy; the results boot", async (t) => {
  const mac = "52:54:00:12:34:56";
  const src = await t.makeGuestVm("src", {
    extra: DISK + `-nic user,model=virtio-net-pci,mac=${mac.toUpperCase()}\n`,
  });
  t.startRunsvdir();
  await supervisedAll(src);
  await boot(src); // so it has run-time state (supervise/, a log) a clone must not copy
  await svDown(src, 20_000);
  const disk = join(src, "drive.qcow2");

  // disk resize: +8M grows, a smaller size needs --shrink.
  let r = await t.vm(["disk", "src", "resize", "+8M"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'Resized "drive.qcow2" of VM "src": 16 MiB -> 24 MiB\n');
  assert.equal((await info(disk))["virtual-size"], 24 * 2 ** 20);
  r = await t.vm(["disk", "src", "resize", "20M"]);
  assert.equal(r.code, 100);
  assert.match(r.stderr, /smaller than the disk's 24 MiB.*--shrink/);
  assert.equal((await info(disk))["virtual-size"], 24 * 2 ** 20);

  // snapshots: create, list, apply, delete.
  r = await t.vm(["snapshot", "src", "create", "base"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((await info(disk)).snapshots?.map((s) => s.name), ["base"]);
  r = await t.vm(["snapshot", "src", "create", "base"]);
  assert.equal(r.code, 1);
  r = await t.vm(["snapshot", "src", "list"]);
  assert.match(
    r.stdout,
    /^NAME +CREATED +DISKS\nbase +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +drive.qcow2\n$/,
  );
  r = await t.vm(["snapshot", "src", "apply", "base"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'Snapshot "base" applied on "drive.qcow2" of VM "src"\n');
  r = await t.vm(["snapshot", "src", "delete", "base"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await info(disk)).snapshots, undefined);
  // None left: the header alone says what the empty list is.
  assert.match((await t.vm(["snapshot", "src", "list"])).stdout, /^NAME +CREATED +DISKS\n$/);

  // A full clone: a copy of the disk without backing file, down, a new MAC, no run-time state.
  r = await t.vm(["clone", "src", "full"]);
  assert.equal(r.code, 0, r.stderr);
  const full = t.dir("full");
  const fi = await info(join(full, "drive.qcow2"));
  assert.equal(fi.format, "qcow2");
  assert.equal(fi["backing-filename"], undefined);
  assert.equal(fi["virtual-size"], 24 * 2 ** 20);
  assert.ok(Deno.statSync(join(full, "down")).isFile);
  const fullMac = /mac=([0-9a-f:]+)/.exec(readOr(join(full, "templates", "guest")))?.[1] ?? "";
  assert.match(fullMac, /^52:54:00(:[0-9a-f]{2}){3}$/);
  assert.notEqual(fullMac, mac);
  assert.match(r.stdout, new RegExp(`MAC address ${mac} -> ${fullMac}`));
  assert.equal(
    readOr(join(full, "templates", "guest")).replace(fullMac, mac.toUpperCase()),
    readOr(join(src, "templates", "guest")),
  );
  assert.equal(readOr(join(full, "log", "main", "current")), "", "the log is not copied");
  assert.equal(Deno.readLinkSync(join(full, "run")), "../.default/run");
  assert.equal(Deno.readLinkSync(join(full, "log", "run")), "../../.default/log/run");
  assert.deepEqual(
    [...Deno.readDirSync(t.vmdir)].map((e) => e.name).filter((n) => n.startsWith(".")).sort(),
    [".default", ".lock"],
    "no temporary directory left (VMDIR's lock stays, as after vm port add)",
  );

  // A linked clone: a qcow2 overlay on the source's disk, by relative name.
  r = await t.vm(["clone", "src", "lnk", "--linked"]);
  assert.equal(r.code, 0, r.stderr);
  const lnk = t.dir("lnk");
  const li = await info(join(lnk, "drive.qcow2"));
  assert.equal(li["backing-filename"], "../src/drive.qcow2");
  assert.equal(li["virtual-size"], 24 * 2 ** 20);
  const lnkMac = /mac=([0-9a-f:]+)/.exec(readOr(join(lnk, "templates", "guest")))?.[1] ?? "";
  assert.notEqual(lnkMac, mac);
  assert.notEqual(lnkMac, fullMac);

  // The source of a linked clone can be neither destroyed nor renamed.
  for (const args of [["destroy", "src", "--yes"], ["rename", "src", "moved"]]) {
    r = await t.vm(args);
    assert.equal(r.code, 1, args.join(" "));
    assert.match(
      r.stderr,
      /VM "src" has linked clones that use its disks: "lnk" \("lnk\/drive.qcow2"\); /,
    );
  }
  assert.ok(Deno.statSync(disk).isFile);
  // Applying a snapshot would change what the linked clone sees: refused too.
  assert.equal((await t.vm(["snapshot", "src", "create", "s2"])).code, 0);
  r = await t.vm(["snapshot", "src", "apply", "s2"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /use its disks: "lnk" .*; applying a snapshot would break them/);
  assert.equal((await t.vm(["snapshot", "src", "delete", "s2"])).code, 0);
  // Nor while another VM names its disk itself; destroying that VM keeps the disk.
  r = await t.vm(["clone", "full", "shr"]);
  assert.equal(r.code, 0, r.stderr);
  const shr = join(t.dir("shr"), "templates", "guest");
  Deno.writeTextFileSync(shr, readOr(shr).replace("file=./drive.qcow2", `file=${disk}`));
  r = await t.vm(["destroy", "src", "--yes"]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /use its disks: "lnk", "shr" \("lnk\/drive.qcow2", "src\/drive.qcow2"\)/,
  );
  r = await t.vm(["destroy", "shr"], { stdin: "y\n" });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.includes(`\nKept (outside the VM's directory): ${disk}\n`), r.stdout);
  assert.ok(Deno.statSync(disk).isFile);

  // rename: one move; the same runsv keeps supervising it, and it boots.
  await supervisedAll(full, lnk);
  for (const d of [full, lnk]) {
    assert.equal(readStatus(d)?.state, "down", `${d} is created down`);
    assert.equal(readStatus(d)?.want, "down");
  }
  r = await t.vm(["rename", "full", "full2"]);
  assert.equal(r.code, 0, r.stderr);
  const full2 = t.dir("full2");
  assert.throws(() => Deno.statSync(full), Deno.errors.NotFound);
  assert.ok(Deno.statSync(join(full2, "down")).isFile, "still no autostart");
  assert.ok(isSupervised(full2));
  r = await t.vm(["rename", "full2", "lnk"]);
  assert.equal(r.code, 100, "the new name is taken");
  r = await t.vm(["rename", "full2", ".hidden"]);
  assert.equal(r.code, 100, "the new name is invalid");

  // The renamed full clone and the linked clone boot, with their disks and MACs.
  const [p1, p2] = await Promise.all([boot(full2), boot(lnk)]);
  assert.ok(cmdlineOf(p1).some((a) => a.includes(`mac=${fullMac}`)));
  assert.ok(cmdlineOf(p2).some((a) => a.includes(`mac=${lnkMac}`)));
  assert.ok(cmdlineOf(p1).includes("file=./drive.qcow2,if=virtio,format=qcow2"));
  assert.equal(Deno.readLinkSync(`/proc/${p1}/cwd`), full2);
  await Promise.all([svDown(full2, 20_000), svDown(lnk, 20_000)]);
  // A second rename keeps the log it has now (and autostart, and the disk).
  const log = readOr(join(full2, "log", "main", "current"));
  assert.match(log, /full2: stop: the guest powered off/);
  r = await t.vm(["rename", "full2", "full3"]);
  assert.equal(r.code, 0, r.stderr);
  const full3 = t.dir("full3");
  assert.equal(readOr(join(full3, "log", "main", "current")), log);
  assert.ok(Deno.statSync(join(full3, "down")).isFile);
  assert.ok(isSupervised(full3));

  // destroy: "n" or no answer deletes nothing.
  for (const stdin of ["n\n", ""]) {
    r = await t.vm(["destroy", "lnk"], { stdin });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^VM "lnk" \(".*\/lnk", \d+ KiB on disk\) will be deleted, with:\n/);
    assert.match(r.stdout, /\n {2}drive.qcow2 {2}\d+ KiB on disk \(24 MiB virtual\)\n/);
    assert.match(r.stdout, /Delete VM "lnk"\? \[y\/N\] \nNothing deleted\n$/);
    assert.ok(Deno.statSync(join(lnk, "drive.qcow2")).isFile);
    assert.ok(isSupervised(lnk));
  }

  // destroy --yes: only that directory goes, and its runsv with it.
  const runsv = findByCwd("runsv", lnk, { children: false });
  assert.equal(runsv.length, 1);
  const before = [...Deno.readDirSync(t.vmdir)].map((e) => e.name).sort();
  r = await t.vm(["destroy", "lnk", "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `Destroyed VM "lnk" ("${lnk}")\n`);
  assert.deepEqual(
    [...Deno.readDirSync(t.vmdir)].map((e) => e.name).sort(),
    before.filter((n) => n !== "lnk"),
  );
  assert.ok(!alive(runsv[0]?.pid ?? 0), "its runsv is gone");
  assert.ok(isSupervised(src) && isSupervised(full3), "the others stay supervised");
  assert.equal((await info(disk))["virtual-size"], 24 * 2 ** 20);

  // Without linked clones, the source can go, with an answer "yes".
  r = await t.vm(["destroy", "src"], { stdin: "yes\n" });
  assert.equal(r.code, 0, r.stderr);
  assert.throws(() => Deno.statSync(src), Deno.errors.NotFound);
  assert.deepEqual((await t.vm(["list", "-q"])).stdout, "full3\n");
});

test("args/info/destroy/rename/clone/disk/snapshot: --help, usage errors, unknown VMs", async (t) => {
  const cmds = ["args", "info", "destroy", "rename", "clone", "disk", "snapshot"];
  for (const cmd of cmds) {
    const r = await t.vm([cmd, "--help"]);
    assert.equal(r.code, 0, cmd);
    assert.match(
      r.stdout,
      new RegExp(`^usage: vm ${cmd} <vm>|^usage: vm ${cmd} \\[--json\\] <vm>`),
    );
    assert.ok(!r.stdout.includes("\x1b"), "plain text");
    assert.equal(r.stderr, "");
  }
  assert.match((await t.vm(["clone", "--help"])).stdout, /^ {2}--linked /m);
  assert.match((await t.vm(["disk", "x", "resize", "--help"])).stdout, /^ {2}--drive FILE /m);
  const usage: [string[], RegExp][] = [
    [["args"], /^vm: fatal: Wrong arguments; usage: vm args <vm> \[--lines\] \[--json\]\n$/],
    [["info", "a", "b"], /^vm: fatal: Wrong arguments; usage: vm info/],
    [["destroy"], /^vm: fatal: Wrong arguments; usage: vm destroy/],
    [["rename", "a"], /^vm: fatal: Wrong arguments; usage: vm rename/],
    [
      ["clone", "a", "b", "--full"],
      /^vm: fatal: Unknown option "--full"; see "vm clone --help"\n$/,
    ],
    [["log", "a", "-n"], /^vm: fatal: "-n" needs a value; see "vm log --help"\n$/],
    [["list", "--json=yes"], /^vm: fatal: "--json" takes no value; see "vm list --help"\n$/],
    [["disk", "a", "grow", "+1G"], /^vm: fatal: Unknown disk operation "grow"; usage: vm disk/],
    [["disk", "a", "resize", "1 G"], /^vm: fatal: Size "1 G" is not a size; write "\+10G"/],
    [["snapshot", "a", "create"], /^vm: fatal: Wrong arguments; usage: vm snapshot/],
    [["snapshot", "a", "revert", "x"], /^vm: fatal: Unknown snapshot operation "revert"/],
    [["rename", "a", "../b"], /^vm: fatal: Invalid VM name "\.\.\/b"/],
    [["info", "nope"], /^vm: fatal: No VM "nope" in ".*"; see "vm list"\n$/],
    [["destroy", "nope", "--yes"], /^vm: fatal: No VM "nope" in/],
    [["clone", "nope", "b"], /^vm: fatal: No VM "nope" in/],
    [["args", "nope"], /^vm: fatal: No VM "nope" in/],
  ];
  for (const [args, re] of usage) {
    const r = await t.vm(args);
    assert.equal(r.code, 100, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(" "));
    assert.equal(r.stdout, "", args.join(" "));
  }
});

test("vm destroy refuses when it cannot check that no other VM uses its disks (no qemu-img)", async (t) => {
  for (const n of ["a", "b"]) {
    const r = await t.vm(["make", n, "--disk", "1M", "--no-log", "--yes"]);
    assert.equal(r.code, 0, r.stderr);
  }
  // Without qemu-img, b's disk cannot be checked for a backing file in a: no delete.
  const r = await t.vm(["destroy", "a", "--yes"], { env: { PATH: join(t.root, "empty-path") } });
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /^vm: fatal: Cannot tell whether disk ".*\/b\/drive\.qcow2" of VM "b" depends on VM "a" .*qemu-img.*destroying it is refused until it can be checked\n$/,
  );
  assert.ok(Deno.statSync(t.dir("a")).isDirectory, "a is still there");
  // With qemu-img, the check completes and a goes.
  const ok = await t.vm(["destroy", "a", "--yes"]);
  assert.equal(ok.code, 0, ok.stderr);
});
