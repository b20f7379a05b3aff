// Integration tests of the seed's CLI: vm make, list, boot, sv, help — real
// qemu-img, real runsvdir, the CLI run as a subprocess.

import assert from "node:assert/strict";
import { join } from "node:path";
import { parseTemplate } from "../../lib/vm/templates.ts";
import { readOr, run, test, type TestEnv, waitFor } from "../support/harness.ts";

function entries(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

function templatesOf(t: TestEnv, name: string): string[] {
  return entries(join(t.dir(name), "templates"));
}

test("vm make with piped answers creates a complete, down VM that vm list shows", async (t) => {
  const r = await t.vm(["make", "t1"], { stdin: "1G\n3\n\n\n" });
  assert.equal(r.code, 0, r.stderr);
  // The seed's questions, in the seed's order, each with its default.
  const asked = [
    "Disk image size for t1? [20G] ",
    "Safe poweroff wait time for t1? [10 s] ",
    "Log t1? [y/N] ",
    "Templates for t1? [display-none drive kvm mem vnc] ",
  ]
    .map((q) => r.stdout.indexOf(q));
  assert.ok(asked.every((i, k) => i >= 0 && (k === 0 || i > (asked[k - 1] ?? 0))), r.stdout);
  assert.match(r.stdout, /Available templates: .*mem-4g/);
  assert.match(r.stdout, /vmd is not running/);
  const dir = t.dir("t1");
  const info = JSON.parse(
    (await run("qemu-img", ["info", "--output=json", join(dir, "drive.qcow2")])).stdout,
  );
  assert.equal(info.format, "qcow2");
  assert.equal(info["virtual-size"], 1024 ** 3);
  assert.equal(Deno.readTextFileSync(join(dir, "wait")).trim(), "3");
  assert.ok(Deno.statSync(join(dir, "down")).isFile);
  assert.deepEqual(templatesOf(t, "t1"), ["display-none", "drive", "kvm", "mem", "vnc"]);
  assert.equal(Deno.readTextFileSync(join(dir, "templates", "mem")), "-m 2G\n");
  assert.throws(() => Deno.lstatSync(join(dir, "log")), Deno.errors.NotFound);
  assert.equal(Deno.readLinkSync(join(dir, "run")), "../.default/run");
  assert.equal(Deno.readLinkSync(join(dir, "control", "t")), "../../.default/control/t");
  const list = await t.vm(["list"]);
  assert.equal(list.code, 0);
  assert.match(list.stdout, /^t1\b/m);
  // Nothing else in VMDIR: no temporary directory left.
  assert.deepEqual(entries(t.vmdir), [".default", "t1"]);
});

test("vm make flags answer the questions; a chosen template replaces its prefix", async (t) => {
  const r = await t.vm([
    "make",
    "t2",
    "--disk",
    "1G",
    "--wait",
    "5",
    "--templates",
    "mem-4g display-none",
    "--log",
    "--yes",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /\?/); // nothing asked
  assert.deepEqual(templatesOf(t, "t2"), ["display-none", "drive", "kvm", "mem-4g", "vnc"]);
  assert.equal(Deno.readTextFileSync(join(t.dir("t2"), "wait")).trim(), "5");
  assert.equal(Deno.readLinkSync(join(t.dir("t2"), "log", "run")), "../../.default/log/run");
});

test("vm make with an ISO writes a once template that boots it", async (t) => {
  const iso = join(t.root, "my disc.iso");
  Deno.writeTextFileSync(iso, "not really an iso");
  const r = await t.vm(["make", "t3", iso, "--disk", "1M", "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  const once = Deno.readTextFileSync(join(t.dir("t3"), "templates", "once"));
  assert.deepEqual(parseTemplate(once, "once", {}), ["-cdrom", iso, "-boot", "order=d"]);
});

test("vm make refuses bad input with exit 100 and writes nothing", async (t) => {
  assert.equal((await t.vm(["make", "t1", "--disk", "1M", "--yes"])).code, 0);
  const before = entries(t.vmdir);
  const t1Before = entries(t.dir("t1"));
  const cases: [string[], RegExp, string?][] = [
    [["make", "../x", "--yes"], /Invalid VM name "\.\.\/x"/],
    [["make", ".default", "--yes"], /Invalid VM name "\.default"/],
    [["make", "a b", "--yes"], /Invalid VM name/],
    [["make", "t1", "--yes"], /VM "t1" already exists/],
    [
      ["make", "n1", "--templates", "nosuch", "--yes"],
      /Unknown template "nosuch"; available: .*mem-4g/,
    ],
    [["make", "n2", "--wait=-1", "--yes"], /Wait "-1" is not a number/],
    [["make", "n2", "--wait", "-1", "--yes"], /wait/],
    [["make", "n3", "--wait", "soon", "--yes"], /Wait "soon" is not a number/],
    [["make", "n4", "--disk", "lots", "--yes"], /Disk size "lots" is not a size/],
    [["make", "n5", "/no/such.iso", "--yes"], /ISO "\/no\/such.iso" does not exist/],
    [["make", "n6"], /Wait "x" is not a number/, "1G\nx\n"],
    [["make"], /usage: vm make/],
    [["make", "n7", "--bogus"], /bogus/],
  ];
  for (const [args, message, stdin] of cases) {
    const r = await t.vm(args, stdin === undefined ? {} : { stdin });
    assert.equal(r.code, 100, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /^vm: fatal: /, args.join(" "));
    assert.match(r.stderr, message, args.join(" "));
    assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
    assert.deepEqual(entries(t.vmdir), before, args.join(" "));
  }
  assert.deepEqual(entries(t.dir("t1")), t1Before);
});

test("a config line with command substitution is refused and never run", async (t) => {
  const marker = join(t.root, "pwned");
  Deno.writeTextFileSync(t.conf, `# my config\nVMCONF_DEFAULT_WAIT=4\nX=$(touch ${marker})\n`);
  for (const args of [["list"], ["make", "c1", "--yes"]]) {
    const r = await t.vm(args);
    assert.equal(r.code, 100, r.stderr);
    assert.equal(
      r.stderr.trim(),
      `vm: fatal: ${t.conf}:3: Command substitution "$(…)" is not allowed; write the value itself`,
    );
  }
  assert.equal(readOr(marker), "");
  assert.throws(() => Deno.lstatSync(marker), Deno.errors.NotFound);
  assert.deepEqual(entries(t.vmdir), [".default"]);
});

test("config values override the environment and give vm make its defaults", async (t) => {
  Deno.writeTextFileSync(
    t.conf,
    `export VMCONF_DEFAULT_WAIT=7\nVMCONF_DEFAULT_TEMPLATES='mem-8g kvm'\n`,
  );
  const r = await t.vm(["make", "c2", "--disk", "1M", "--yes"], {
    env: { VMCONF_DEFAULT_WAIT: "99" },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(Deno.readTextFileSync(join(t.dir("c2"), "wait")).trim(), "7");
  assert.deepEqual(templatesOf(t, "c2"), ["kvm", "mem-8g"]);
});

test("a qemu-img failure leaves no VM directory behind", async (t) => {
  const r = await t.vm(["make", "t3", "--disk", "99999999E", "--yes"]);
  assert.equal(r.code, 111, r.stderr);
  assert.match(r.stderr, /^vm: fatal: qemu-img create failed: /);
  assert.deepEqual(entries(t.vmdir), [".default"]);
});

test("two vm make of one name at once: exactly one succeeds", async (t) => {
  const rs = await Promise.all(
    [1, 2, 3].map(() => t.vm(["make", "same", "--disk", "1M", "--yes"])),
  );
  assert.equal(rs.filter((r) => r.code === 0).length, 1, rs.map((r) => r.stderr).join("|"));
  for (const r of rs.filter((r) => r.code !== 0)) {
    assert.equal(r.code, 100);
    assert.match(r.stderr, /VM "same" already exists/);
  }
  assert.deepEqual(entries(t.vmdir), [".default", "same"]);
});

test("vm boot quotes every argument into once so it parses back unchanged", async (t) => {
  assert.equal((await t.vm(["make", "t1", "--disk", "1M", "--yes"])).code, 0);
  const args = [
    "-name",
    "a b",
    "$HOME",
    'x"y',
    "it's",
    "back\\slash",
    "$(touch x)",
    "#no comment",
    "",
  ];
  const r = await t.vm(["boot", "t1", ...args]);
  // vmd is not running: said so, the arguments are kept for the next start.
  assert.equal(r.code, 111);
  assert.match(r.stderr, /No runsv supervises .*kept in templates\/once/);
  const once = Deno.readTextFileSync(join(t.dir("t1"), "templates", "once"));
  assert.deepEqual(parseTemplate(once, "once", { HOME: "/root" }), args);
  // A second boot appends.
  await t.vm(["boot", "t1", "-m", "1G"]);
  const again = Deno.readTextFileSync(join(t.dir("t1"), "templates", "once"));
  assert.deepEqual(parseTemplate(again, "once", {}), [...args, "-m", "1G"]);
  assert.equal((await t.vm(["boot", "nosuch"])).code, 100);
});

// vm make used to start every new VM once when vmd ran.
// Only a VM made with an ISO (an installer to boot) starts now; without one
// it stays down and vm make says how to start it. The stand-in QEMU exits at
// once, so that start is also reported as the failure it is.
test("with runsvdir running: vm sv passes sv through; vm make starts a VM once only with an ISO", async (t) => {
  // A stand-in QEMU that records each start and exits at once.
  const fake = join(t.root, "bin", "fake-qemu");
  Deno.writeTextFileSync(fake, `#!/bin/sh\necho "run $$" >> "$VM_DIR/runs"\n`, { mode: 0o755 });
  Deno.writeTextFileSync(t.conf, `VMCONF_QEMU=${fake}\n`);
  assert.equal((await t.vm(["make", "t1", "--disk", "1M", "--yes"])).code, 0);
  t.startRunsvdir();
  assert.ok(await waitFor(() => readOr(join(t.dir("t1"), "supervise", "stat")) !== "", 8000));
  const st = await t.vm(["sv", "status", "t1"]);
  assert.equal(st.code, 0, st.stderr);
  assert.match(st.stdout, /^down: t1: \d+s\n$/);
  assert.equal((await t.vm(["sv", "status", "../x"])).code, 100);
  assert.equal((await t.vm(["sv", "status", "nosuch"])).code, 100);

  let r = await t.vm(["make", "t2", "--disk", "1M", "--yes"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^It is down; start it with "vm start t2"$/m);
  assert.doesNotMatch(r.stdout, /Started/);

  const iso = join(t.root, "disc.iso");
  Deno.writeTextFileSync(iso, "");
  r = await t.vm(["make", "t3", iso, "--disk", "1M", "--yes"]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^Created VM "t3"/m);
  assert.match(r.stderr, /^vm: fatal: VM "t3" did not start: QEMU exited at once; /);
  assert.ok(await waitFor(() => readOr(join(t.dir("t3"), "runs")) !== "", 8000));
  await new Promise((res) => setTimeout(res, 2500)); // would it run again?
  assert.equal(readOr(join(t.dir("t3"), "runs")).trim().split("\n").length, 1);
  assert.equal(readOr(join(t.dir("t1"), "runs")), "");
  assert.equal(readOr(join(t.dir("t2"), "runs")), "");
});

test("vm help, --help, and usage errors", async (t) => {
  const h = await t.vm(["help"]);
  assert.equal(h.code, 0);
  for (
    const c of [
      "list",
      "make <vm> [<iso>]",
      "boot <vm> [<arg>...]",
      "sv <command> <vm>...",
      "help",
    ]
  ) {
    assert.ok(h.stdout.includes(c), c);
  }
  assert.match(h.stdout, /VMCONF/);
  assert.match(h.stdout, /exit codes: 0 ok, 1 check failed, 100 usage, 111 system failure/);
  const mh = await t.vm(["make", "--help"]);
  assert.equal(mh.code, 0);
  assert.match(mh.stdout, /usage: vm make <vm> \[<iso>\]/);
  assert.match(mh.stdout, /--templates/);
  const none = await t.vm([]);
  assert.equal(none.code, 100);
  assert.match(none.stderr, /usage: vm <command>/);
  const bad = await t.vm(["frobnicate"]);
  assert.equal(bad.code, 100);
  assert.equal(bad.stderr, 'vm: fatal: "frobnicate" is not a vm command; see "vm help"\n');
});
