// What vm prints, end to end (the console's parts are in access_test.ts, which
// has a guest on its serial console): progress on a pseudo-terminal (script
// -qec) and nothing extra on a pipe; vmd's lines named by VM and quiet after
// vm kill; --version, did-you-mean, snapshot list --json, and the base of a
// linked clone. VMs use the shipped default templates without a guest OS:
// they run, and ignore the ACPI power button.
// Slow (ten seconds or more of guests): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { quoteWords } from "../../lib/text/shell_words.ts";
import { readOr, test, type TestEnv, waitFor } from "../support/harness.ts";
import { runPiped } from "../support/piped.ts";

/** What a redrawn line starts with: back to the line's start, erase it. */
const CLEAR = "\r\x1b[K";

/** Runs `vm <args>` on a new pseudo-terminal (script -qec); everything it wrote, \r included. */
async function onTerminal(t: TestEnv, args: string[]): Promise<{ code: number; out: string }> {
  const cmd = quoteWords([t.vmExe, ...args]);
  const r = await runPiped("script", ["-qec", `${cmd}; echo "rc=$?"`, "/dev/null"], t.env);
  const code = Number(/rc=(\d+)/.exec(r.stdout)?.[1] ?? "-1");
  return { code, out: r.stdout };
}

/**
 * `vm daemon` with its output collected: its stderr, and its stdout, where
 * runsvdir's children write (runit's scripts send stderr to stdout) the lines
 * of VMs without a log. Stopped by t.close.
 */
function daemon(t: TestEnv) {
  const child = t.spawn(t.vmExe, { args: ["daemon"], stdout: "piped", stderr: "piped" });
  let text = "";
  const collect = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of s) text += dec.decode(chunk, { stream: true });
  };
  Promise.all([collect(child.stdout), collect(child.stderr)]).catch(() => {});
  return { pid: child.pid, log: () => text, status: child.status };
}

test("vm stop shows one updating wait line on a terminal, none on a pipe; vm clone's bar", async (t) => {
  for (const vm of ["s1", "s2"]) {
    assert.equal((await t.vm(["make", vm, "-y", "--wait", "2"])).code, 0);
  }
  t.startRunsvdir();
  assert.equal((await t.vm(["start", "s1", "s2"])).code, 0);

  const tty = await onTerminal(t, ["stop", "s1"]);
  assert.equal(tty.code, 0, tty.out);
  // The guest has no OS: it ignores the button, and QEMU is told to quit after 2 s.
  assert.ok(tty.out.includes(`${CLEAR}waiting for s1 to power off… 0 s of 2`), tty.out);
  assert.ok(tty.out.includes(`${CLEAR}waiting for s1 to power off… 1 s of 2`), tty.out);
  assert.match(
    tty.out.split(CLEAR).at(-1) ?? "",
    /^Stopped "s1" in \d+\.\d s \(the guest did not power off within its wait of 2 s; QEMU was told to quit\)\r\n/,
  );
  const piped = await t.vm(["stop", "s2"]);
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(piped.stderr, "");
  assert.match(piped.stdout, /^Stopped "s2" in \d+\.\d s \(the guest did not power off/);
  assert.ok(!piped.stdout.includes("waiting") && !piped.stdout.includes("\x1b"));

  // A full clone: qemu-img's progress as one redrawn bar on a terminal, nothing on a pipe.
  const c = await onTerminal(t, ["clone", "s1", "c1"]);
  assert.equal(c.code, 0, c.out);
  const parts = c.out.split(CLEAR);
  assert.ok(
    parts.some((x) => /^copying drive\.qcow2 +\d+% +[\d.]+ \w+ \/ 20\.0 GiB/.test(x)),
    c.out,
  );
  assert.match(
    parts.at(-1) ?? "",
    /^Cloned VM "s1" to "c1"/,
    "the bar is cleared before the result",
  );
  const p = await t.vm(["clone", "s1", "c2"]);
  assert.equal(p.code, 0, p.stderr);
  assert.equal(p.stderr, "");
  assert.match(p.stdout, /^Cloned VM "s1" to "c2"/);
});

test("vmd's lines are named by VM; vm kill leaves no QMP noise in vmd's output", async (t) => {
  assert.equal((await t.vm(["make", "web", "-y", "--wait", "1"])).code, 0);
  const d = daemon(t);
  assert.ok(await waitFor(() => d.log().includes("supervising"), 15_000), d.log());
  assert.ok(await waitFor(() => readOr(join(t.dir("web"), "supervise", "stat")) !== "", 8000));
  assert.equal((await t.vm(["start", "web"])).code, 0);
  let r = await t.vm(["stop", "web"]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(await waitFor(() => d.log().includes("web: stop:"), 5000), d.log());
  assert.match(
    d.log(),
    /^web: stop: the guest did not power off within 1 s \(wait\); QEMU was told to quit$/m,
  );
  const before = d.log().length;
  assert.equal((await t.vm(["start", "web"])).code, 0);
  r = await t.vm(["kill", "web"]);
  assert.equal(r.code, 0, r.stderr);
  await new Promise((res) => setTimeout(res, 1500)); // control/t and finish have run
  const after = d.log().slice(before);
  assert.doesNotMatch(after, /QMP|Connection refused|fatal/, after);
  Deno.kill(d.pid, "SIGTERM");
  assert.equal((await d.status).code, 0, d.log());
});

test("--version, did you mean, snapshot list --json, the base of a linked clone", async (t) => {
  let r = await t.vm(["--version"]);
  assert.equal(r.code, 0);
  const version = /^vm (\d+\.\d+\.\d+)\n$/.exec(r.stdout)?.[1];
  assert.ok(version, r.stdout);
  assert.match((await t.vm(["help"])).stdout, new RegExp(`^vm ${version} - `));
  r = await t.vm(["stpo", "x"]);
  assert.equal(r.code, 100);
  assert.equal(
    r.stderr,
    'vm: fatal: "stpo" is not a vm command (did you mean "stop"?); see "vm help"\n',
  );

  assert.equal((await t.vm(["make", "base", "-y", "--disk", "16M"])).code, 0);
  r = await t.vm(["snapshot", "base", "list", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), []);
  assert.equal((await t.vm(["snapshot", "base", "list"])).stdout, "NAME  CREATED  DISKS\n");
  assert.equal((await t.vm(["snapshot", "base", "create", "s1"])).code, 0);
  const snaps = JSON.parse((await t.vm(["snapshot", "base", "list", "--json"])).stdout);
  assert.equal(snaps.length, 1);
  assert.equal(snaps[0].name, "s1");
  assert.deepEqual(snaps[0].disks, ["drive.qcow2"]);
  assert.ok(Math.abs(snaps[0].date_s - Date.now() / 1000) < 60);
  // What the bash, zsh and fish scripts complete "vm snapshot base apply " with.
  assert.equal((await t.vm(["__complete", "snapshots", "base"])).stdout, "s1\n");

  r = await t.vm(["clone", "base", "lc", "--linked"]);
  assert.equal(r.code, 0, r.stderr);
  t.startRunsvdir();
  assert.ok(await waitFor(() => readOr(join(t.dir("base"), "supervise", "stat")) !== "", 8000));
  const list = await t.vm(["list"]);
  assert.match(list.stdout, /^base +down, base +- /m);
  assert.match(list.stdout, /^lc +down +- /m);
  const json = JSON.parse((await t.vm(["list", "--json"])).stdout);
  assert.deepEqual(json.map((s: { linked_clones: string[] }) => s.linked_clones), [["lc"], []]);
  r = await t.vm(["start", "base"]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(
    r.stderr,
    /^vm: fatal: VM "base" is the base of linked clones \("lc"\): running it changes the disks they are built on and corrupts them;.*"vm start --force base" starts it anyway\n$/,
  );
  assert.equal(readOr(join(t.dir("base"), "supervise", "stat")), "down\n", "nothing started");
  r = await t.vm(["start", "--force", "base"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Started "base"/);
  assert.equal((await t.vm(["kill", "base"])).code, 0);
});
