// Access commands against a real runsvdir, real QEMU under TCG and the real
// test guest whose serial console is on supervise/console (the shipped
// serial-console template): vm console (pipe and pseudo-terminal), vm monitor,
// vm qmp, vm log.
// Slow (a quarter of a minute or more of guests): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { readStatus } from "../../lib/runit/status.ts";
import { descendants, exeOf, readOr, run, test, waitFor, withEnv } from "../support/harness.ts";
import { spawnPiped } from "../support/piped.ts";

const BOOT_MS = 60_000;
const enc = new TextEncoder();

/** A child process whose stdout (and stderr) text is collected as it comes. */
class Proc {
  out = "";
  err = "";
  readonly child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reading: Promise<unknown>;

  constructor(cmd: string, args: string[], env: Record<string, string>) {
    this.child = spawnPiped(cmd, args, env);
    this.#writer = this.child.stdin.getWriter();
    const collect = async (s: ReadableStream<Uint8Array>, to: "out" | "err") => {
      const dec = new TextDecoder();
      for await (const c of s) this[to] += dec.decode(c, { stream: true });
    };
    this.#reading = Promise.all([
      collect(this.child.stdout, "out"),
      collect(this.child.stderr, "err"),
    ]);
  }

  write(data: string | Uint8Array): Promise<void> {
    return this.#writer.write(typeof data === "string" ? enc.encode(data) : data);
  }

  /** Waits until stdout contains `text`. */
  waitOut(text: string, ms: number): Promise<boolean> {
    return waitFor(() => this.out.includes(text), ms);
  }

  /** Waits up to `ms` for the process to end; its status, or undefined. */
  async exited(ms: number): Promise<Deno.CommandStatus | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), ms));
    try {
      return await Promise.race([this.child.status, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills the process by its PID (if still there) and waits for it and its output. */
  async stop(): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.child.status;
    try {
      await this.#writer.close();
    } catch { /* closed */ }
    await this.#reading;
  }
}

/** Whether `path` is a unix socket. */
function isSocket(path: string): boolean {
  try {
    return Deno.statSync(path).isSocket === true;
  } catch {
    return false;
  }
}

/** The `vm` (Deno) process under `root`, e.g. under `script`. */
function vmProcessUnder(root: number): number | undefined {
  return descendants(root).find((p) => (exeOf(p) ?? "").endsWith("/deno"));
}

/** The `stty -a` output the pty session printed before vm started and after it ended. */
function sttyBeforeAfter(out: string): { before: string; after: string } {
  const text = out.replace(/\r/g, "");
  const before = text.slice(0, text.indexOf("Connected to")).trim();
  const after = text.slice(text.indexOf("rc=") + "rc=0".length).trim();
  return { before, after };
}

Deno.test("vm console, monitor, qmp and log on a running guest", async (tc) => {
  await withEnv({}, async (t) => {
    const dir = await t.makeGuestVm("t1", { console: "socket", log: true });
    // A second serial port (ttyS1 in the guest) writes into QEMU's stdout, so the
    // guest can put lines into the VM's log (svlogd's log/main/current).
    Deno.writeTextFileSync(
      join(dir, "templates", "zz-log-serial"),
      "-chardev file,id=logser,path=/dev/stdout -serial chardev:logser\n",
    );
    // The VM uses the shipped template, not one of the test's own.
    assert.equal(
      readOr(join(dir, "templates", "serial-console")),
      "-serial unix:./supervise/console,server=on,wait=off\n",
    );
    await t.makeGuestVm("quiet", { log: false });
    t.startRunsvdir();
    assert.ok(await waitFor(() => readStatus(dir) !== undefined, 8000));
    const up = await t.vm(["start", "t1"]);
    assert.equal(up.code, 0, up.stderr);
    assert.ok(await waitFor(() => isSocket(join(dir, "supervise", "console")), 20_000));

    await tc.step(
      "console on a pseudo-terminal: raw mode, output, a command, Ctrl-] restores",
      async () => {
        // script(1) runs the shell on a new pseudo-terminal; `stty -a` shows its modes
        // before and after vm console.
        const p = new Proc("script", [
          "-qec",
          'stty -a; vm console t1; echo "rc=$?"; stty -a',
          "/dev/null",
        ], t.env);
        try {
          assert.ok(
            await p.waitOut('Connected to the serial console of "t1"; Ctrl-] detaches', 15_000),
            p.out,
          );
          // While attached, the terminal is in raw mode.
          const vmPid = vmProcessUnder(p.child.pid);
          assert.ok(vmPid !== undefined, "vm console runs under script");
          const tty = Deno.readLinkSync(`/proc/${vmPid}/fd/0`);
          assert.match(tty, /^\/dev\/pts\/\d+$/);
          assert.ok(
            await waitFor(
              async () => /-icanon/.test((await run("stty", ["-a", "-F", tty])).stdout),
              5000,
            ),
          );
          const raw = (await run("stty", ["-a", "-F", tty])).stdout;
          assert.match(raw, /-isig\b/);
          assert.match(raw, /-echo\b/);
          // The guest may still be booting: type the command until its shell answers.
          const t0 = Date.now();
          while (!p.out.includes("hi-42") && Date.now() - t0 < BOOT_MS) {
            await p.write("echo hi-$((6*7))\r");
            await p.waitOut("hi-42", 3000);
          }
          assert.ok(p.out.includes("hi-42"), p.out);
          // The guest's own output reached the terminal (the typed text has no "hi-42").
          await p.write(new Uint8Array([0x1d]));
          const st = await p.exited(10_000);
          assert.ok(st !== undefined, `vm console did not detach on Ctrl-]: ${p.out}`);
          assert.equal(st.code, 0, p.out);
          assert.match(p.out, /Detached from the serial console of "t1"/);
          assert.match(p.out, /rc=0/);
          const { before, after } = sttyBeforeAfter(p.out);
          assert.match(before, /^speed [^]*\bicanon\b/);
          assert.equal(after, before, "the terminal is restored");
        } finally {
          await p.stop();
        }
      },
    );

    await tc.step(
      "console with a pipe: the command runs in the guest, its answer is printed",
      async () => {
        const r = await t.vm(["console", "t1"], { stdin: "echo hi-$((6*7))\n" });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^hi-42\r?$/m);
        assert.equal(r.stderr, "");
        const late = await t.vm(["console", "--idle", "3", "t1"], {
          stdin: "sleep 1.5; echo late-$((6*7))\n",
        });
        assert.equal(late.code, 0, late.stderr);
        assert.match(late.stdout, /^late-42\r?$/m, "--idle waits for a slow answer");
      },
    );

    await tc.step(
      "console: a second client is refused clearly; piped output has no terminal queries and ends with a newline",
      async () => {
        const first = new Proc(t.vmExe, ["console", "t1"], t.env);
        try {
          await first.write("echo first-$((6*7))\n");
          assert.ok(await first.waitOut("first-42", 15_000), first.out + first.err);
          const second = await t.vm(["console", "t1"], { stdin: "echo second\n" });
          assert.equal(second.code, 1, second.stderr);
          assert.match(
            second.stderr,
            new RegExp(
              `^vm: fatal: The serial console of "t1" is in use by another "vm console" ` +
                `\\(PID \\d+\\); QEMU serves one client at a time and would not hear this one`,
            ),
          );
        } finally {
          await first.stop();
        }
        // The guest asks the terminal for the cursor position (ESC [ 6 n): not on a pipe.
        const r = await t.vm(["console", "t1"], { stdin: "printf 'A\\033[6nB\\n'\n" });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^AB\r?$/m, JSON.stringify(r.stdout));
        assert.ok(!r.stdout.includes("\x1b[6n"), JSON.stringify(r.stdout));
        assert.ok(r.stdout.endsWith("\n"), JSON.stringify(r.stdout.slice(-20)));
      },
    );

    await tc.step(
      "monitor: HMP answers info status (pipe and terminal); one client at a time",
      async () => {
        const r = await t.vm(["monitor", "t1"], { stdin: "info status\n\ninfo version\n" });
        assert.equal(r.code, 0, r.stderr);
        const lines = r.stdout.split("\n");
        assert.equal(lines[0], "VM status: running", r.stdout);
        assert.match(lines[1] ?? "", /^\d+\.\d+\.\d+/, r.stdout);
        assert.ok(!r.stdout.includes("(qemu)") && !r.stdout.includes("\x1b"), r.stdout);

        const p = new Proc("script", ["-qec", 'vm monitor t1; echo "rc=$?"', "/dev/null"], t.env);
        try {
          assert.ok(await p.waitOut("(qemu)", 15_000), p.out);
          assert.match(p.out, /Connected to the QEMU monitor of "t1"; Ctrl-] detaches/);
          // Another client is refused at once, naming the one that holds the monitor.
          const t0 = performance.now();
          const busy = await t.vm(["monitor", "t1"], { stdin: "info status\n" });
          assert.equal(busy.code, 1, busy.stderr);
          assert.match(
            busy.stderr,
            /^vm: fatal: The monitor of "t1" is in use by another "vm monitor" \(PID \d+\); QEMU serves one client at a time/,
          );
          assert.ok(performance.now() - t0 < 5_000);
          await p.write("info status\r");
          assert.ok(await p.waitOut("VM status: running", 10_000), p.out);
          await p.write(new Uint8Array([0x1d]));
          const st = await p.exited(10_000);
          assert.ok(st !== undefined, p.out);
          assert.match(p.out, /rc=0/);
        } finally {
          await p.stop();
        }
      },
    );

    await tc.step("qmp: one command, its JSON reply; errors exit 1, bad JSON 100", async () => {
      const r = await t.vm(["qmp", "t1", "query-status"]);
      assert.equal(r.code, 0, r.stderr);
      const status = JSON.parse(r.stdout);
      assert.equal(status.status, "running");
      assert.equal(status.running, true);
      assert.match(r.stdout, /"running"/);

      const hmp = await t.vm([
        "qmp",
        "t1",
        "human-monitor-command",
        '{"command-line": "info status"}',
      ]);
      assert.equal(hmp.code, 0, hmp.stderr);
      assert.match(JSON.parse(hmp.stdout), /VM status: running/);

      const unknown = await t.vm(["qmp", "t1", "no-such-command"]);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /^vm: fatal: QMP "no-such-command" failed: .+\n$/);
      assert.equal(unknown.stdout, "");

      for (const bad of ["{not json", "[1, 2]", '"text"']) {
        const b = await t.vm(["qmp", "t1", "query-status", bad]);
        assert.equal(b.code, 100, `${bad}: ${b.stderr}`);
        assert.match(b.stderr, /^vm: fatal: QMP arguments /);
      }
      // The guest is still fine.
      assert.equal(JSON.parse((await t.vm(["qmp", "t1", "query-status"])).stdout).running, true);
    });

    await tc.step("log: -n prints the last lines, -f follows new ones", async () => {
      const log = join(dir, "log", "main", "current");
      const lines = await t.vm(["console", "t1"], {
        stdin: "for i in 1 2 3; do echo n-$i-$((6*7)); done > /dev/ttyS1\n",
      });
      assert.equal(lines.code, 0, lines.stderr);
      assert.ok(await waitFor(() => readOr(log).includes("n-3-42"), 10_000), readOr(log));
      const two = await t.vm(["log", "-n", "2", "t1"]);
      assert.equal(two.code, 0, two.stderr);
      const got = two.stdout.trimEnd().split("\n");
      assert.equal(got.length, 2, two.stdout);
      assert.match(got[0] ?? "", /n-2-42/);
      assert.match(got[1] ?? "", /n-3-42/);
      const all = await t.vm(["log", "t1"]);
      assert.match(all.stdout, /n-1-42[^]*n-2-42[^]*n-3-42/);

      const f = new Proc(t.vmExe, ["log", "-f", "-n", "1", "t1"], t.env);
      try {
        assert.ok(await f.waitOut("n-3-42", 10_000), f.out + f.err);
        assert.ok(!f.out.includes("n-2-42"), f.out);
        const w = await t.vm(["console", "t1"], {
          stdin: "echo follow-$((6*7)) > /dev/ttyS1\n",
        });
        assert.equal(w.code, 0, w.stderr);
        assert.ok(await f.waitOut("follow-42", 10_000), f.out + f.err);
        assert.equal(await f.exited(0), undefined, "vm log -f keeps following");
      } finally {
        await f.stop();
      }
    });

    await tc.step("errors: no log, not running, bad usage", async () => {
      const noLog = await t.vm(["log", "quiet"]);
      assert.equal(noLog.code, 1);
      assert.match(
        noLog.stderr,
        /^vm: fatal: VM "quiet" does not log; enable it with: mkdir .*log/,
      );
      for (
        const args of [["console", "quiet"], ["monitor", "quiet"], ["qmp", "quiet", "query-status"]]
      ) {
        const r = await t.vm(args);
        assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
        assert.match(
          r.stderr,
          /^vm: fatal: VM "quiet" is not running; start it with "vm start quiet"\n$/,
        );
      }
      for (
        const args of [["console"], ["qmp", "t1"], ["log", "t1", "-n", "x"], [
          "console",
          "--idle",
          "soon",
          "t1",
        ]]
      ) {
        const r = await t.vm(args);
        assert.equal(r.code, 100, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, /^vm: fatal: /);
      }
      const missing = await t.vm(["console", "nope"]);
      assert.equal(missing.code, 100);
      assert.match(missing.stderr, /No VM "nope"/);
    });
  });
});

test("vm console/monitor/qmp/log/completions --help: usage, plain text", async (t) => {
  for (
    const [cmd, usage] of [
      ["console", "usage: vm console <vm> [--idle S]"],
      ["monitor", "usage: vm monitor <vm>"],
      ["qmp", "usage: vm qmp <vm> <command> [<json-arguments>]"],
      ["log", "usage: vm log <vm> [-f] [-n N]"],
      ["completions", "usage: vm completions bash|zsh|fish"],
    ] as const
  ) {
    const r = await t.vm([cmd, "--help"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split("\n")[0], usage);
    assert.match(r.stdout, /exit|complet/);
    assert.ok(!r.stdout.includes("\x1b"), "no escape sequences");
  }
  const make = await t.vm(["make", "--help"]);
  assert.match(make.stdout, /serial-console/);
});
