// vm never writes through a symlink planted as `x.new`
// (`vm boot` and `templates/once.new`, `vm __finish` and `backoff.new`), and
// never reads `once`, `wait`, a template or `hooks` through a symlink that
// leaves the VM directory; destroy, rename and clone keep to VMDIR.

import assert from "node:assert/strict";
import { join } from "node:path";
import { removeIfExists } from "../../lib/os/fs.ts";
import { test, type TestEnv } from "../support/harness.ts";
import { encodeStatus } from "../support/runit_status.ts";

/** Makes VM `name` (display-none, a 1M disk); returns its directory. */
async function make(t: TestEnv, name: string): Promise<string> {
  const r = await t.vm(["make", name, "--disk", "1M", "-y"], {
    env: { VMCONF_DEFAULT_TEMPLATES: "display-none drive" },
  });
  assert.equal(r.code, 0, r.stderr);
  return t.dir(name);
}

/** A file outside VMDIR with known content. */
function victim(t: TestEnv): string {
  const path = join(t.root, "victim");
  Deno.writeTextFileSync(path, "precious\n");
  return path;
}

test("vm boot refuses a planted templates/once.new symlink; its target is untouched", async (t) => {
  const dir = await make(t, "vm");
  const target = victim(t);
  Deno.symlinkSync(target, join(dir, "templates", "once.new"));
  const r = await t.vm(["boot", "vm", "-name", "x"]);
  assert.equal(r.code, 111, r.stdout + r.stderr);
  assert.match(r.stderr, /once\.new" is a symbolic link \(planted\?\); vm never writes through/);
  assert.equal(Deno.readTextFileSync(target), "precious\n");
  assert.throws(() => Deno.lstatSync(join(dir, "templates", "once")), Deno.errors.NotFound);
});

test("vm __finish refuses a planted backoff.new symlink; its target is untouched", async (t) => {
  const dir = await make(t, "vm");
  const target = victim(t);
  // runsv's record of a run that just ended quickly while wanted up: a backoff is written.
  Deno.mkdirSync(join(dir, "supervise"));
  const now = Date.now() / 1000;
  Deno.writeFileSync(
    join(dir, "supervise", "status"),
    encodeStatus({
      since: now - 1,
      pid: 0,
      paused: false,
      want: "up",
      gotTerm: false,
      state: "finish",
    }),
  );
  Deno.symlinkSync(target, join(dir, "backoff.new"));
  const r = await t.vm(["__finish", dir, "1", "0"]);
  assert.equal(r.code, 111, r.stdout + r.stderr);
  assert.match(r.stderr, /backoff\.new" is a symbolic link \(planted\?\)/);
  assert.equal(Deno.readTextFileSync(target), "precious\n");
  assert.equal(Deno.lstatSync(join(dir, "backoff.new")).isSymlink, true);
});

test("a template, once, wait or hooks linking out of the VM is refused and shown unsafe", async (t) => {
  const dir = await make(t, "vm");
  const target = victim(t);
  for (const rel of ["templates/evil", "templates/once", "hooks", "wait"]) {
    const link = join(dir, rel);
    removeIfExists(link);
    Deno.symlinkSync(target, link);
    // vm args reads the templates and hooks (wait is not part of QEMU's command line).
    const args = await t.vm(["args", "vm"]);
    if (rel !== "wait") {
      assert.equal(args.code, 111, `${rel}: ${args.stdout}`);
      assert.match(
        args.stderr,
        new RegExp(`"${link}" is a symbolic link to "${target}", outside`),
        rel,
      );
    }
    const [state] = JSON.parse((await t.vm(["list", "--json"])).stdout);
    assert.equal(state.state, "unsafe", rel);
    assert.equal(
      state.problem,
      `"${link}" is a symbolic link to "${target}", outside the VM's directory; ` +
        `fix: cp --remove-destination ${target} ${link}`,
    );
    const run = await t.vm(["__run", dir]);
    assert.equal(run.code, 111);
    assert.match(run.stderr, /^vm: fatal: Not starting "vm": ".*" is a symbolic link/);
    Deno.removeSync(link);
  }
  // A link within the VM directory is fine.
  Deno.writeTextFileSync(join(dir, "mem-file"), "-m 64M\n");
  Deno.symlinkSync("../mem-file", join(dir, "templates", "mem"));
  const args = await t.vm(["args", "vm"]);
  assert.equal(args.code, 0, args.stderr);
  assert.match(args.stdout, / -m 64M /);
  assert.equal(Deno.readTextFileSync(target), "precious\n");
});

test("clone, rename and destroy keep to VMDIR; what a VM links to outside is untouched", async (t) => {
  const dir = await make(t, "a");
  const outside = join(t.root, "outside");
  Deno.mkdirSync(outside);
  Deno.writeTextFileSync(join(outside, "secret"), "s\n");
  Deno.symlinkSync(outside, join(dir, "data"));
  const clone = await t.vm(["clone", "a", "b"]);
  assert.equal(clone.code, 0, clone.stderr);
  assert.equal(Deno.lstatSync(join(t.dir("b"), "data")).isSymlink, true, "copied as a link");
  assert.equal(Deno.readLinkSync(join(t.dir("b"), "data")), outside);
  const bad = await t.vm(["rename", "a", "../escaped"]);
  assert.equal(bad.code, 100, bad.stderr);
  const rename = await t.vm(["rename", "a", "c"]);
  assert.equal(rename.code, 0, rename.stderr);
  for (const vm of ["b", "c"]) {
    const destroy = await t.vm(["destroy", vm, "--yes"]);
    assert.equal(destroy.code, 0, destroy.stderr);
  }
  // Nothing but the defaults and VMDIR's lock (clone takes it to pick the new VM's addresses).
  assert.deepEqual([...Deno.readDirSync(t.vmdir)].map((e) => e.name).sort(), [
    ".default",
    ".lock",
  ]);
  assert.deepEqual([...Deno.readDirSync(t.root)].map((e) => e.name).sort(), [
    "bin",
    "conf",
    "outside",
    "vms",
  ]);
  assert.equal(Deno.readTextFileSync(join(outside, "secret")), "s\n");
});
