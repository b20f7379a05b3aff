/**
 * `vm console` and `vm monitor`: the terminal attached to the guest's serial
 * console or QEMU's human monitor until Ctrl-], or, piped, input sent and
 * answers printed (lib/qemu/console.ts, lib/qemu/hmp.ts) — to a pipe without
 * the guest's terminal queries, ending with a newline. One client at a time:
 * a second one is refused (lib/qemu/socket_lock.ts).
 * @module
 */

import { CheckFailedError } from "../../lib/errors.ts";
import { flockHolder } from "../../lib/actions/daemon.ts";
import { join } from "../../lib/os/path.ts";
import { lockFileOf, lockSocket } from "../../lib/qemu/socket_lock.ts";
import { QueryFilter } from "../../lib/text/term_queries.ts";
import { visible } from "../../lib/text/visible.ts";
import { LineReader } from "../../lib/os/line_reader.ts";
import { writeAll, type Writer } from "../../lib/os/io.ts";
import { withRawTerminal } from "../../lib/os/terminal.ts";
import {
  attachInteractive,
  attachPiped,
  connectVmSocket,
  DEFAULT_IDLE_MS,
  type VmSocket,
} from "../../lib/qemu/console.ts";
import { hmpGreeting, hmpSession } from "../../lib/qemu/hmp.ts";
import { parseSeconds } from "../../lib/text/units.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { type CommandSpec, defineCommand, VM } from "../core/command.ts";
import { printErr } from "../core/output.ts";
import { optString } from "../core/parse.ts";

/** The row of `vm console`. */
const CONSOLE_ROW = {
  name: "console",
  summary: "attach to the guest's serial console (Ctrl-] detaches)",
  args: [VM],
  options: [{
    name: "idle",
    value: "S",
    help: "seconds of quiet after the input ends before exiting (default 1)",
  }],
  help: [
    "needs the serial-console template (-serial unix:./supervise/console,...); QEMU serves",
    "one console client at a time. On a terminal: raw mode, every key goes to the guest",
    "(Ctrl-C too), Ctrl-] detaches and restores the terminal. Not a terminal: the input",
    "is piped to the console, then its output is copied until it is quiet, e.g.",
    "  echo uname -a | vm console web",
    "exit: 0 detached or quiet, 1 the VM is not running, has no console socket, or the",
    "console closed (QEMU exited), 100 usage",
  ],
} as const satisfies CommandSpec;

/** The row of `vm monitor`. */
const MONITOR_ROW = {
  name: "monitor",
  summary: "talk to QEMU's human monitor (HMP; Ctrl-] detaches)",
  args: [VM],
  help: [
    'On a terminal: QEMU\'s monitor with its line editing; Ctrl-] detaches ("quit" would end',
    "QEMU at once). Not a terminal: one command per input line, each answer printed",
    "without the prompt, e.g.  echo info status | vm monitor web",
    "QEMU serves one monitor client at a time.",
    "exit: 0 ok, 1 the VM is not running or the monitor closed, 100 usage, 111 no answer",
  ],
} as const satisfies CommandSpec;

const encoder = new TextEncoder();

/** Standard input, one line at a time (HMP line mode). */
async function* stdinLines(): AsyncGenerator<string> {
  const input = new LineReader(Deno.stdin);
  for (;;) {
    const line = await input.readLine();
    if (line === undefined) return;
    yield line;
  }
}

/** The error of a console or monitor that closed under us. */
function closed(what: string): CheckFailedError {
  return new CheckFailedError(`${what} closed; QEMU exited or is stopping`);
}

/** Attaches the terminal to an open console or monitor connection until Ctrl-]. */
async function attachTerminal(conn: Deno.Conn, what: string): Promise<number> {
  const how = await withRawTerminal(
    Deno.stdin,
    (signal) => attachInteractive(conn, Deno.stdin, Deno.stdout, signal),
  );
  if (how === "closed") throw closed(what);
  printErr(`\nDetached from ${what.replace(/^The/, "the")}`);
  return 0;
}

/**
 * Takes the one-client lock of socket `which` of VM `name` (lib/qemu/
 * socket_lock.ts); throws CheckFailedError naming the holder when another
 * `vm console`/`vm monitor` has it. Undefined when the VM never ran (no
 * `supervise/`): connecting says why then.
 */
function lockOrRefuse(name: string, dir: string, which: VmSocket): Deno.FsFile | undefined {
  let lock: Deno.FsFile | undefined;
  try {
    lock = lockSocket(dir, which);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  if (lock !== undefined) return lock;
  let holder: number | undefined;
  try {
    const ino = Deno.statSync(join(dir, lockFileOf(which))).ino ?? -1;
    holder = flockHolder(Deno.readTextFileSync("/proc/locks"), ino);
  } catch (e) {
    // Only the PID in the message is lost.
    if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied)) throw e;
  }
  const what = which === "console" ? "serial console" : "monitor";
  throw new CheckFailedError(
    `The ${what} of "${name}" is in use by another "vm ${which}"` +
      `${holder === undefined ? "" : ` (PID ${holder})`}; QEMU serves one client at a time ` +
      `and would not hear this one: detach that one first (Ctrl-])`,
  );
}

/** stdout, minus terminal queries, remembering whether the last byte was a newline. */
function pipedOutput(): Writer & { end(): Promise<void> } {
  const filter = new QueryFilter();
  let last = 0x0a;
  const put = async (b: Uint8Array) => {
    if (b.length === 0) return;
    last = b[b.length - 1] ?? last;
    await writeAll(Deno.stdout, b);
  };
  return {
    async write(p: Uint8Array) {
      await put(filter.push(p));
      return p.length;
    },
    async end() {
      await put(filter.flush());
      if (last !== 0x0a) await put(encoder.encode("\n"));
    },
  };
}

/** `vm console <vm> [--idle S]`. */
export const console = defineCommand(CONSOLE_ROW, {
  async run(inv) {
    const name = inv.args[0] ?? "";
    const idle = optString(inv, "idle");
    const idleMs = idle === undefined ? DEFAULT_IDLE_MS : parseSeconds(idle, "--idle", "2") * 1000;
    const dir = requireVm(loadConfig().vmdir, name);
    const lock = lockOrRefuse(name, dir, "console");
    try {
      const conn = await connectVmSocket(name, dir, "console");
      const what = `The serial console of "${name}"`;
      if (!Deno.stdin.isTerminal()) {
        const out = Deno.stdout.isTerminal() ? Deno.stdout : pipedOutput();
        const how = await attachPiped(conn, Deno.stdin, out, idleMs);
        if ("end" in out) await out.end();
        if (how === "closed") throw closed(what);
        return 0;
      }
      printErr(`Connected to the serial console of "${name}"; Ctrl-] detaches`);
      return await attachTerminal(conn, what);
    } finally {
      lock?.close();
    }
  },
});

/** `vm monitor <vm>`. */
export const monitor = defineCommand(MONITOR_ROW, {
  async run(inv) {
    const name = inv.args[0] ?? "";
    const dir = requireVm(loadConfig().vmdir, name);
    const lock = lockOrRefuse(name, dir, "monitor");
    try {
      return await attachMonitor(name, dir);
    } finally {
      lock?.close();
    }
  },
});

/** `vm monitor`, once its lock is held. */
async function attachMonitor(name: string, dir: string): Promise<number> {
  const conn = await connectVmSocket(name, dir, "monitor");
  if (!Deno.stdin.isTerminal()) {
    await hmpSession(
      conn,
      name,
      stdinLines(),
      (text) => writeAll(Deno.stdout, encoder.encode(visible(text))),
    );
    return 0;
  }
  let greeting: string;
  try {
    greeting = await hmpGreeting(conn, name);
  } catch (e) {
    conn.close();
    throw e;
  }
  printErr(
    `Connected to the QEMU monitor of "${name}"; Ctrl-] detaches ` +
      `("quit" ends QEMU at once: use "vm stop ${name}" to stop it)`,
  );
  await writeAll(Deno.stdout, encoder.encode(greeting));
  return await attachTerminal(conn, `The monitor of "${name}"`);
}
