// Exported VMs start (Nomad here; libvirt is in libvirt_test.ts), and export's exit codes: the
// VMs `vm make` makes with the shipped defaults, plain and --image, exported with
// `vm export nomad --json`; each job's command line assembled as Nomad's qemu driver does
// (tests/support/nomad_driver.ts), in a task directory holding the artifacts, and started
// by QEMU with -S (no guest runs; QEMU must come up: its monitor says "prelaunch"). The
// driver forwards ports on every address: QEMU runs in a network namespace of its own.
// A refusal (no --image-url) exits 100 with the fix.

import assert from "node:assert/strict";
import { join } from "node:path";
import { run, test, type TestEnv, waitFor } from "../support/harness.ts";
import { driverArgv, MONITOR_SOCKET, type NomadTask } from "../support/nomad_driver.ts";
import { kvmProblem } from "../../lib/qemu/accel.ts";

/** Sends one HMP command to the monitor socket `path`; its answer. */
async function hmp(path: string, command: string): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path });
  const dec = new TextDecoder();
  let text = "";
  const upTo = async (prompts: number) => {
    const buf = new Uint8Array(4096);
    while (text.split("(qemu) ").length <= prompts) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n));
    }
  };
  try {
    await upTo(1);
    await conn.write(new TextEncoder().encode(command + "\n"));
    await upTo(2);
  } finally {
    conn.close();
  }
  return text.split("(qemu) ")[1] ?? "";
}

/** Runs the job of `vm export nomad <name> --json <urls>` as the driver would, with -S. */
async function startJob(t: TestEnv, name: string, urls: string[]): Promise<string> {
  const r = await t.vm(["export", "nomad", name, "--json", ...urls]);
  assert.equal(r.code, 0, r.stderr);
  const group = JSON.parse(r.stdout).Job.TaskGroups[0];
  const task = group.Tasks[0] as NomadTask;
  if (kvmProblem() !== undefined) task.Config.accelerator = "tcg"; // the job asks for KVM, which this host lacks
  const taskDir = join(t.root, `task-${name}`);
  Deno.mkdirSync(join(taskDir, "local"), { recursive: true });
  // The artifacts: the disk as published (flattened), the seed.
  const disk = join(taskDir, task.Config.image_path);
  const conv = await run("qemu-img", [
    "convert",
    "-O",
    "qcow2",
    t.dir(name) + "/drive.qcow2",
    disk,
  ]);
  assert.equal(conv.code, 0, conv.stderr);
  if (urls.includes("--seed-url")) {
    Deno.copyFileSync(t.dir(name) + "/seed.iso", join(taskDir, "local/seed.iso"));
  }
  const argv = [...driverArgv(task, group.Networks ?? [], taskDir), "-S"];
  const qemu = new Deno.Command("unshare", {
    args: ["--net", ...argv],
    cwd: taskDir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let exited = false;
  const out = qemu.output().then((o) => {
    exited = true;
    return new TextDecoder().decode(o.stderr);
  });
  const sock = join(taskDir, MONITOR_SOCKET);
  const up = await waitFor(async () => {
    if (exited) return true;
    try {
      return /paused \(prelaunch\)/.test(await hmp(sock, "info status"));
    } catch (e) {
      // Not there yet, or QEMU exited meanwhile (the next round sees it).
      const gone = [
        Deno.errors.NotFound,
        Deno.errors.ConnectionRefused,
        Deno.errors.ConnectionReset,
      ];
      if (gone.some((c) => e instanceof c)) return false;
      throw e;
    }
  }, 20_000);
  if (!up || exited) {
    if (!exited) qemu.kill("SIGKILL");
    assert.fail(`${name}: QEMU did not come up: ${argv.join(" ")}\n${await out}`);
  }
  await hmp(sock, "quit");
  await out;
  return r.stderr;
}

test("the Nomad jobs of the default template sets start (the driver's argv, QEMU -S)", async (t) => {
  const image = join(t.root, "image.qcow2");
  assert.equal((await run("qemu-img", ["create", "-q", "-f", "qcow2", image, "16M"])).code, 0);
  assert.equal((await t.vm(["make", "plain", "--disk", "16M", "-y"])).code, 0);
  const made = await t.vm(["make", "cloud", "--image", image, "--disk", "16M", "-y"]);
  assert.equal(made.code, 0, made.stderr);

  // A refusal is bad input: exit 100, the fix named.
  const refused = await t.vm(["export", "nomad", "plain"]);
  assert.equal(refused.code, 100, refused.stderr);
  assert.match(refused.stderr, /^vm: fatal: .*give --image-url URL\n$/);

  const url = ["--image-url", "https://files.invalid/disk.qcow2"];
  const plain = await startJob(t, "plain", url);
  assert.match(plain, /templates\/vnc:1: -vnc unix:\.\/supervise\/vnc -> removed: /);
  const cloud = await startJob(t, "cloud", [
    ...url,
    "--seed-url",
    "https://files.invalid/seed.iso",
  ]);
  assert.match(cloud, /templates\/cloud-init:1: .* -> kept, with the seed at "local\/seed\.iso"/);
});
