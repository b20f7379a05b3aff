/**
 * Test support for integration tests: a temp VMDIR with `.default` set up,
 * the `vm` CLI run as a real subprocess (through a launcher, as install.sh
 * would install it), a real `runsvdir`, and cleanup that stops every process
 * by PID; `test(name, async (t) => …)` gives each e2e test such an env.
 * Not a test file.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { setupDefault } from "../../lib/actions/setup_default.ts";
import { quoteWord, quoteWords } from "../../lib/text/shell_words.ts";
import {
  allPids,
  cmdlineOf as procCmdline,
  descendants,
  exeOf,
  isAlive,
  procStat,
  splitCmdline,
} from "../../lib/os/proc.ts";
import { sleep } from "../../lib/os/poll.ts";
import { readStatus } from "../../lib/runit/status.ts";
import { guestArgs, type TestGuest, testGuest } from "./guest.ts";
import { type Output, runPiped } from "./piped.ts";
import { REPO } from "./repo.ts";
import { recordTestRoot } from "./roots.ts";

/** The repository root. */
export { REPO } from "./repo.ts";

/** Output of one `vm` run. */
export type VmRun = Output;

/** How {@link TestEnv.makeGuestVm} makes a guest VM. */
export interface GuestVmOptions {
  /** Seconds of `wait` (default 10). */
  wait?: number;
  /** A guest that ignores the ACPI power button. */
  deaf?: boolean;
  /** `--log` (the default) or `--no-log`. */
  log?: boolean;
  /** Guest memory (default 128M). */
  mem?: string;
  /** More template text, after the guest's arguments. */
  extra?: string;
  /** Where the serial console goes (default: guest.log). */
  console?: "file" | "socket";
}

/** A temp VMDIR with `.default`, a launcher, and the env to run `vm` against it. */
export class TestEnv {
  /** Root temp dir (holds vmdir, bin, conf). */
  readonly root: string;
  readonly vmdir: string;
  /** The launcher script standing in for the installed `vm`. */
  readonly vmExe: string;
  /** Config file (VMCONF) of this env; empty unless a test writes it. */
  readonly conf: string;
  /** Environment for `vm` runs and runsvdir. */
  readonly env: Record<string, string>;
  /** What {@link spawn} started, stopped by {@link close}. */
  #children: Deno.ChildProcess[] = [];

  private constructor(root: string, vmdir: string) {
    this.root = root;
    this.vmdir = vmdir;
    this.vmExe = join(root, "bin", "vm");
    this.conf = join(root, "conf");
    this.env = {
      PATH: `${join(root, "bin")}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: Deno.env.get("HOME") ?? "/root",
      VMDIR: vmdir,
      VMCONF: this.conf,
      DENO_DIR: Deno.env.get("DENO_DIR") ?? join(Deno.env.get("HOME") ?? "/root", ".cache/deno"),
      NO_COLOR: "1",
    };
  }

  /**
   * Creates a temp VMDIR (its path padded to `minPathLength` bytes when given),
   * with a launcher and `.default` from `default/`.
   */
  static create(opts: { minPathLength?: number } = {}): TestEnv {
    const root = Deno.makeTempDirSync({ prefix: "vm-test-" });
    recordTestRoot(root);
    let vmdir = join(root, "vms");
    if (opts.minPathLength !== undefined && vmdir.length < opts.minPathLength) {
      vmdir = join(root, "d".repeat(opts.minPathLength - root.length - 1));
    }
    const t = new TestEnv(root, vmdir);
    Deno.mkdirSync(join(root, "bin"));
    Deno.writeTextFileSync(
      t.vmExe,
      `#!/bin/sh\nexec ${
        quoteWords([Deno.execPath(), "run", "--allow-all", "--unstable-net", "--quiet"])
      } ` +
        `${quoteWord(join(REPO, "main.ts"))} "$@"\n`,
      { mode: 0o755 },
    );
    Deno.writeTextFileSync(t.conf, "");
    Deno.mkdirSync(vmdir, { recursive: true });
    setupDefault(join(REPO, "default"), vmdir, t.vmExe);
    return t;
  }

  /** Path of VM `name`. */
  dir(name: string): string {
    return join(this.vmdir, name);
  }

  /** Runs `vm <args>` with this env; `stdin` text is piped in. */
  vm(args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<VmRun> {
    return runPiped(this.vmExe, args, { ...this.env, ...opts.env }, opts.stdin);
  }

  /**
   * Makes VM `name` without asking (disk 16M, down), whose templates are the
   * test guest's instead of the defaults: QEMU boots the test guest (built
   * or found by testGuest(), unless `guest` is given) under TCG with its
   * serial console appended to `<vm>/guest.log`, or, with
   * `console: "socket"`, on `supervise/console` through the shipped
   * `serial-console` template (for `vm console`; no guest.log then).
   */
  makeGuestVm(name: string, opts?: GuestVmOptions): Promise<string>;
  makeGuestVm(name: string, guest: TestGuest, opts?: GuestVmOptions): Promise<string>;
  async makeGuestVm(
    name: string,
    guestOrOpts: TestGuest | GuestVmOptions = {},
    guestOpts: GuestVmOptions = {},
  ): Promise<string> {
    const given = "kernel" in guestOrOpts ? guestOrOpts : undefined;
    const opts = given === undefined ? guestOrOpts as GuestVmOptions : guestOpts;
    const guest = given ?? await testGuest();
    const socket = opts.console === "socket";
    const r = await this.vm([
      "make",
      name,
      "--disk",
      "16M",
      "--wait",
      String(opts.wait ?? 10),
      opts.log === false ? "--no-log" : "--log",
      "--yes",
      ...(socket ? ["--templates", "serial-console"] : []),
    ], { env: { VMCONF_DEFAULT_TEMPLATES: "display-none" } });
    if (r.code !== 0) throw new Error(`vm make ${name} failed: ${r.stderr}`);
    const dir = this.dir(name);
    const args = [
      ...guestArgs(guest, { deaf: opts.deaf ?? false, mem: opts.mem ?? "128M" }),
      ...(socket
        ? []
        : ["-chardev", "file,id=ser0,path=guest.log,append=on", "-serial", "chardev:ser0"]),
    ];
    Deno.writeTextFileSync(
      join(dir, "templates", "guest"),
      quoteWords(args) + "\n" + (opts.extra ?? ""),
    );
    return dir;
  }

  /**
   * Spawns `cmd` with this env (nothing inherited; stdio null unless `opts`
   * says otherwise); {@link close} kills it and everything under it by PID.
   */
  spawn(cmd: string, opts: Deno.CommandOptions = {}): Deno.ChildProcess {
    const child = new Deno.Command(cmd, {
      env: this.env,
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
      ...opts,
    }).spawn();
    this.#children.push(child);
    return child;
  }

  /** Starts `runsvdir` on the VMDIR (stopped by `close`). */
  startRunsvdir(): Deno.ChildProcess {
    return this.spawn("runsvdir", { args: [this.vmdir] });
  }

  /**
   * Kills what {@link spawn} started, with every process under it, and every
   * process working in this env's temp dir, by PID; then removes the temp dir.
   */
  async close(): Promise<void> {
    for (const child of this.#children) {
      const tree = descendants(child.pid);
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      killAll(tree);
    }
    // Anything else still working in this VMDIR (QEMU orphaned by a killed runsv, hooks).
    for (let i = 0; i < 20; i++) {
      const left = processesIn(this.root);
      if (left.length === 0) break;
      killAll(left);
      await sleep(100);
    }
    Deno.removeSync(this.root, { recursive: true });
  }
}

/**
 * Runs `fn` with a new {@link TestEnv} (created with `opts`), closed
 * afterwards whether `fn` passed or failed.
 */
export async function withEnv(
  opts: { minPathLength?: number },
  fn: (t: TestEnv) => Promise<void>,
): Promise<void> {
  const t = TestEnv.create(opts);
  try {
    await fn(t);
  } finally {
    await t.close();
  }
}

/**
 * Registers the Deno test `name`, which runs `fn` with a default TestEnv
 * ({@link withEnv}). Named like a test library's `test` so that `deno fmt`
 * keeps `test("a long name", async (t) => {` on one line, as `Deno.test`.
 */
export function test(name: string, fn: (t: TestEnv) => Promise<void>): void {
  Deno.test(name, () => withEnv({}, fn));
}

/** The fields of `vm list --json` / `vm status --json` objects, in order. */
export const JSON_STATE_FIELDS = [
  "name",
  "state",
  "pid",
  "uptime_s",
  "autostart",
  "wait_s",
  "want",
  "paused",
  "backoff_s",
  "linked_clones",
  "problem",
];

/** The fields of `vm list --json` / `vm status --json` objects: the state's, then the cloud ones. */
export const JSON_LIST_FIELDS = [...JSON_STATE_FIELDS, "agent", "ssh_port"];

/** A Writer (as lib/console.ts's) collecting what is written to it as text, in `text`. */
export function collector(): { text: string; write(p: Uint8Array): Promise<number> } {
  const dec = new TextDecoder();
  const out = {
    text: "",
    write(p: Uint8Array): Promise<number> {
      out.text += dec.decode(p, { stream: true });
      return Promise.resolve(p.length);
    },
  };
  return out;
}

/** Resolves after `ms` milliseconds. */
export { sleep };

/** Polls `pred` every 50 ms until it is true or `timeoutMs` passes; returns its last value. */
export async function waitFor(
  pred: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (true) {
    if (await pred()) return true;
    if (Date.now() > end) return false;
    await sleep(50);
  }
}

/** Parent PID of `pid`, or undefined when it is gone. */
export function ppidOf(pid: number): number | undefined {
  return procStat(pid)?.ppid;
}

/** State letter of `pid` (R, S, Z…), or undefined when it is gone. */
export function stateOf(pid: number): string | undefined {
  return procStat(pid)?.state;
}

/** Whether `pid` exists and is not a zombie. */
export const alive = (pid: number): boolean => isAlive(pid);

/** `sv <cmd> <dir>` without waiting; asserts that sv succeeded. */
export async function sv(cmd: string, dir: string): Promise<void> {
  const r = await run("sv", [cmd, dir]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
}

/**
 * Waits until runsv runs a QEMU (not `notPid`) for `dir`, its exec done;
 * returns its PID. Fails with the VM's log when none is up within `timeoutMs`.
 * The kernel sets /proc/<pid>/exe before the new argv: in between, cmdline
 * reads empty, so both are checked.
 */
export async function qemuUp(dir: string, notPid = 0, timeoutMs = 20_000): Promise<number> {
  let pid = 0;
  const ok = await waitFor(() => {
    const st = readStatus(dir);
    pid = st?.state === "run" ? st.pid : 0;
    return pid !== 0 && pid !== notPid && (exeOf(pid) ?? "").includes("qemu-system") &&
      (procCmdline(pid)?.length ?? 0) > 0;
  }, timeoutMs);
  assert.ok(ok, `QEMU did not start for ${dir}: ${readOr(join(dir, "log/main/current"))}`);
  return pid;
}

/**
 * `sv down <dir>`, then waits until runsv reports it down (finish done);
 * returns the ms that took. Fails with the VM's log after `ms`.
 */
export async function svDown(dir: string, ms: number): Promise<number> {
  await sv("down", dir);
  const t0 = performance.now();
  const ok = await waitFor(() => readStatus(dir)?.state === "down", ms);
  assert.ok(ok, `not down within ${ms} ms: ${readOr(join(dir, "log/main/current"))}`);
  return performance.now() - t0;
}

/** Every descendant of `root` (not `root` itself). */
export { descendants };

/** The executable of `pid` (readlink of /proc/<pid>/exe), or undefined when it is gone. */
export { exeOf };

/** Processes whose working directory is inside `dir`. */
export function processesIn(dir: string): number[] {
  const out: number[] = [];
  for (const pid of allPids()) {
    if (pid === Deno.pid) continue;
    try {
      const cwd = Deno.readLinkSync(`/proc/${pid}/cwd`);
      if ((cwd === dir || cwd.startsWith(dir + "/")) && alive(pid)) out.push(pid);
    } catch { /* gone */ }
  }
  return out;
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
}

/** The argv of `pid`. */
export function cmdlineOf(pid: number): string[] {
  return splitCmdline(Deno.readTextFileSync(`/proc/${pid}/cmdline`));
}

/** Reads a file, or "" when it does not exist. */
export function readOr(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/** Runs a command, returns code and output. */
export async function run(
  cmd: string,
  args: string[],
  env?: Record<string, string>,
): Promise<VmRun> {
  const out = await new Deno.Command(cmd, { args, env, stdin: "null" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
