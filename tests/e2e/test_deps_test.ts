// tests/support/test_deps.ts (what `deno task test` runs first) on a fake
// system with stub apt-get, sudo and id: what it asks, prints and runs.

import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO } from "../support/harness.ts";
import { FakeSystem, type FakeSystemOptions } from "../support/fake_system.ts";

const SCRIPT = join(REPO, "tests/support/test_deps.ts");

/** Runs test_deps.ts with `args` on a fake system made with `opts`; returns the run and the stubs' calls. */
async function fakeDeps(
  opts: FakeSystemOptions,
  args: string[] = [],
  run: { input?: string; terminal?: boolean; extra?: Record<string, string> } = {},
) {
  const f = FakeSystem.create(opts);
  try {
    const r = await f.run("deno", ["run", "--allow-all", "--quiet", SCRIPT, ...args], run);
    return { ...r, calls: f.calls() };
  } finally {
    f.remove();
  }
}

/** The package list of the "apt-get install -y <list>" command in `text`. */
function neededList(text: string): string {
  const list = /apt-get install -y ([a-z0-9.+-]+(?: [a-z0-9.+-]+)*)/.exec(text)?.[1];
  assert.ok(list, text);
  // Only links to a few tools are on the fake PATH: these are surely missing.
  for (const p of ["runit", "qemu-utils", "busybox-static", "cpio", "zsh", "fish", "curl"]) {
    assert.ok(list.split(" ").includes(p), `${p} in ${list}`);
  }
  return list;
}

Deno.test("test_deps.ts as root on a pipe: one line with the packages and the command, exit 111, nothing run", async () => {
  const r = await fakeDeps({ uid: 0, lists: "empty" });
  assert.equal(r.code, 111, r.stderr);
  const list = neededList(r.stderr);
  assert.equal(
    r.stderr,
    `test_deps.ts: fatal: the tests need ${list}; to install, run: apt-get update && ` +
      `apt-get install -y ${list} (or: VM_SETUP_YES=1 deno task test)\n`,
  );
  assert.deepEqual(r.calls, []);
});

Deno.test("test_deps.ts with VM_SETUP_YES=1 as root: apt-get update (empty lists), then install", async () => {
  const r = await fakeDeps({ uid: 0, lists: "empty" }, [], { extra: { VM_SETUP_YES: "1" } });
  assert.equal(r.code, 0, r.stderr);
  const list = neededList(r.stdout);
  assert.deepEqual(r.calls, ["apt-get update", `apt-get install -y ${list}`]);
});

Deno.test("test_deps.ts --yes, not root, with sudo: installs through sudo (lists fresh: no update)", async () => {
  const r = await fakeDeps({ uid: 1000, sudo: true }, ["--yes"]);
  assert.equal(r.code, 0, r.stderr);
  const list = neededList(r.stdout);
  assert.deepEqual(r.calls, [
    "sudo -n -v",
    "sudo -n true",
    `sudo apt-get install -y ${list}`,
    `apt-get install -y ${list}`,
  ]);
});

Deno.test("test_deps.ts not root and without sudo: the command to run as root, exit 111", async () => {
  const r = await fakeDeps({ uid: 1000 }, ["--yes"]);
  assert.equal(r.code, 111, r.stderr);
  const list = neededList(r.stderr);
  assert.equal(
    r.stderr,
    `test_deps.ts: fatal: the tests need ${list}; to install, run as root: apt-get install -y ${list}\n`,
  );
  assert.deepEqual(r.calls, []);
});

Deno.test("test_deps.ts on a terminal asks once; 'n' installs nothing (exit 1)", async () => {
  const r = await fakeDeps({ uid: 0 }, [], { terminal: true, input: "n\n" });
  // script(1) merges stdout and stderr; its own errors (no pseudo-terminal) go to stderr.
  const out = r.stdout.replaceAll("\r", "") + r.stderr;
  assert.equal(r.code, 1, out);
  const list = neededList(out);
  assert.ok(
    out.includes(`the tests need ${list}; run "apt-get install -y ${list}" now? [y/N] `),
    out,
  );
  assert.ok(out.includes("test_deps.ts: nothing installed; to install, run: apt-get install"));
  assert.deepEqual(r.calls, []);
});

Deno.test("test_deps.ts without apt-get says the tests need Debian or Ubuntu; a bad argument is exit 100", async () => {
  const r = await fakeDeps({ uid: 0, manager: "pacman" }, ["--yes"]);
  assert.equal(r.code, 111, r.stderr);
  assert.match(r.stderr, /, and apt-get is not on PATH \(a Debian or Ubuntu machine has it\)/);
  assert.deepEqual(r.calls, []);
  const bad = await fakeDeps({ uid: 0 }, ["--frobnicate"]);
  assert.equal(bad.code, 100);
  assert.match(bad.stderr, /unknown argument "--frobnicate"/);
});
