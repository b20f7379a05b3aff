/**
 * `vm console` and `vm monitor`: the terminal attached to the guest's serial
 * console or QEMU's human monitor until Ctrl-], or, piped, input sent and
 * answers printed (lib/qemu/console.ts, lib/qemu/hmp.ts).
 * @module
 */

import { CheckFailedError } from "../lib/errors.ts";
import { LineReader } from "../lib/os/line_reader.ts";
import { writeAll } from "../lib/os/io.ts";
import { withRawTerminal } from "../lib/os/terminal.ts";
import {
  attachInteractive,
  attachPiped,
  connectVmSocket,
  DEFAULT_IDLE_MS,
} from "../lib/qemu/console.ts";
import { hmpGreeting, hmpSession } from "../lib/qemu/hmp.ts";
import { parseSeconds } from "../lib/text/units.ts";
import { loadConfig } from "../lib/vm/config.ts";
import { requireVm } from "../lib/vm/dir.ts";
import type { CommandModule } from "./command.ts";
import { printErr } from "./output.ts";
import { optString } from "./parse.ts";

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

/** `vm console <vm> [--idle S]`. */
export const console: CommandModule = {
  async run(inv) {
    const name = inv.args[0] ?? "";
    const idle = optString(inv, "idle");
    const idleMs = idle === undefined ? DEFAULT_IDLE_MS : parseSeconds(idle, "--idle", "2") * 1000;
    const dir = requireVm(loadConfig().vmdir, name);
    const conn = await connectVmSocket(name, dir, "console");
    const what = `The serial console of "${name}"`;
    if (!Deno.stdin.isTerminal()) {
      const how = await attachPiped(conn, Deno.stdin, Deno.stdout, idleMs);
      if (how === "closed") throw closed(what);
      return 0;
    }
    printErr(`Connected to the serial console of "${name}"; Ctrl-] detaches`);
    return await attachTerminal(conn, what);
  },
};

/** `vm monitor <vm>`. */
export const monitor: CommandModule = {
  async run(inv) {
    const name = inv.args[0] ?? "";
    const dir = requireVm(loadConfig().vmdir, name);
    const conn = await connectVmSocket(name, dir, "monitor");
    if (!Deno.stdin.isTerminal()) {
      await hmpSession(
        conn,
        name,
        stdinLines(),
        (text) => writeAll(Deno.stdout, encoder.encode(text)),
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
  },
};
