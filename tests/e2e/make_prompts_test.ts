// vm make's questions (and vm make --image's messages): at a vm make
// prompt on a terminal a bad answer says what is wrong and is asked again,
// keeping the earlier answers; the wait question takes the unit it shows
// (`30s`, `30 s`); `maybe` at a y/N question is no answer. On a pipe a bad
// answer still ends vm make at once (exit 100), nothing made. The questions
// of --image say what they want, and the "Created VM" line names every
// template and the start that waits for SSH.

import assert from "node:assert/strict";
import { join } from "node:path";
import { run, test, type TestEnv } from "../support/harness.ts";
import { TerminalSession } from "../support/terminal.ts";

/** Types `text` at `s` and waits for `next` to follow (each of `next`, in order). */
async function answer(s: TerminalSession, text: string, ...next: string[]): Promise<void> {
  let from = s.out.length;
  await s.type(text);
  for (const n of next) {
    assert.ok(await s.waitFor(n, 15_000, from), `after "${text}", no "${n}" in:\n${s.out}`);
    from = s.out.indexOf(n, from) + n.length;
  }
}

/** The VM directories in VMDIR. */
function vms(t: TestEnv): string[] {
  return [...Deno.readDirSync(t.vmdir)].map((e) => e.name).filter((n) => !n.startsWith("."));
}

async function virtualSize(disk: string): Promise<number> {
  return JSON.parse((await run("qemu-img", ["info", "--output=json", disk])).stdout)[
    "virtual-size"
  ];
}

test("on a terminal a bad answer is said and asked again; 30s, maybe", async (t) => {
  const s = new TerminalSession(t, ["make", "web"]);
  try {
    assert.ok(await s.waitFor("Disk image size for web? [20G] "), s.out);
    await answer(
      s,
      "lots",
      'Disk size "lots" is not a size; write e.g. "20G", "512M" or "1T"; try again',
      "Disk image size for web? [20G] ",
    );
    await answer(s, "16M", "Safe poweroff wait time for web? [10 s] ");
    await answer(s, "30s", "Log web? [y/N] ");
    await answer(
      s,
      "maybe",
      '"maybe" is neither yes nor no; answer y or n (empty: n); try again',
      "Log web? [y/N] ",
    );
    await answer(s, "y", "Templates for web? [display-none drive kvm mem vnc] ");
    await answer(
      s,
      "+seriall-console",
      'Unknown template "seriall-console"; available: ',
      "; try again",
      "Templates for web? [display-none drive kvm mem vnc] ",
    );
    await answer(s, "+serial-console", 'Created VM "web"');
    assert.equal(await s.exit(), 0, s.out);
  } finally {
    await s.close();
  }
  const dir = t.dir("web");
  assert.equal(Deno.readTextFileSync(join(dir, "wait")), "30\n");
  assert.ok(Deno.statSync(join(dir, "log")).isDirectory, "the y after maybe");
  assert.ok(Deno.statSync(join(dir, "templates/serial-console")).isFile);
  assert.equal(await virtualSize(join(dir, "drive.qcow2")), 16 << 20);
});

test("on a pipe a bad answer ends vm make (exit 100), nothing made; 30 s is a wait", async (t) => {
  let r = await t.vm(["make", "web"], { stdin: "lots\n" });
  assert.equal(r.code, 100, r.stdout + r.stderr);
  assert.equal(
    r.stderr,
    'vm: fatal: Disk size "lots" is not a size; write e.g. "20G", "512M" or "1T"\n',
  );
  r = await t.vm(["make", "web"], { stdin: "16M\n10\nmaybe\n\n" });
  assert.equal(r.code, 100, r.stdout + r.stderr);
  assert.equal(
    r.stderr,
    'vm: fatal: "maybe" is neither yes nor no; answer y or n (empty: n)\n',
  );
  assert.doesNotMatch(r.stdout, /try again/);
  assert.deepEqual(vms(t), []);
  r = await t.vm(["make", "web"], { stdin: "16M\n30 s\nn\n\n" });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(Deno.readTextFileSync(join(t.dir("web"), "wait")), "30\n");
  r = await t.vm(["make", "w2", "-y", "--disk", "16M", "--wait", "5s"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(Deno.readTextFileSync(join(t.dir("w2"), "wait")), "5\n");
});

test("vm make --image's questions on a terminal; the Created line names every template and --ssh", async (t) => {
  const image = join(t.root, "blank.qcow2");
  assert.equal((await run("qemu-img", ["create", "-q", "-f", "qcow2", image, "16M"])).code, 0);
  const home = join(t.root, "home");
  Deno.mkdirSync(home);
  const s = new TerminalSession(t, [
    "make",
    "cw",
    "--image",
    image,
    "--disk",
    "16M",
    "--wait",
    "1",
    "--no-log",
    "--templates",
    "+serial-console",
  ], { HOME: home, USER: "root" });
  try {
    assert.ok(await s.waitFor("User in the guest (with sudo) [vm]: ", 60_000), s.out);
    await answer(
      s,
      "Bad User",
      'User name "Bad User" is not allowed',
      "; try again",
      "User in the guest (with sudo) [vm]: ",
    );
    const keys = "SSH public key files (*.pub) that may log in besides vm's own key [none]: ";
    await answer(s, "", keys);
    await answer(
      s,
      "/nonexistent.pub",
      'SSH key file "/nonexistent.pub" does not exist or is not a file; give its path; try again',
      keys,
    );
    await answer(s, "", "Host name [cw]: ");
    await answer(s, "", "Set a password for the user? [y/N] ");
    await answer(
      s,
      "maybe",
      "try again",
      "Set a password for the user? [y/N] ",
    );
    await answer(s, "n", "Debian packages to install at first boot (e.g. htop curl) [none]: ");
    await answer(
      s,
      "",
      'Created VM "cw" in ',
      "(templates: cloud-init display-none drive-virtio guest-agent kvm mem net-user-fwd " +
        "serial-console vnc)",
      'then "vm start cw --ssh" (waits until it answers SSH)',
    );
    assert.equal(await s.exit(), 0, s.out);
  } finally {
    await s.close();
  }
  assert.equal(Deno.readTextFileSync(join(t.dir("cw"), "ssh/user")).trim(), "vm");
});
