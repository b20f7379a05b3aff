/**
 * Test support: `vm` on a pseudo-terminal, as a user at a terminal runs it.
 * script(1) runs the command on a new pseudo-terminal; what the command
 * writes there (stdout and stderr, `\r` included) comes back on script's
 * stdout, and what the test writes to script's stdin is typed at the
 * terminal. Not a test file.
 * @module
 */

import { quoteWords } from "../../lib/text/shell_words.ts";
import type { TestEnv } from "./harness.ts";
import { runPiped, spawnPiped } from "./piped.ts";
import { waitFor } from "./harness.ts";

/** What a redrawn line starts with: back to the line's start, erase it. */
export const CLEAR = "\r\x1b[K";

/** Runs `vm <args>` on a new pseudo-terminal; its exit code and everything it wrote. */
export async function onTerminal(
  t: TestEnv,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string }> {
  const cmd = quoteWords([t.vmExe, ...args]);
  const r = await runPiped("script", ["-qec", `${cmd}; echo "rc=$?"`, "/dev/null"], {
    ...t.env,
    ...env,
  });
  const code = Number(/rc=(\d+)\r?\n?$/.exec(r.stdout)?.[1] ?? "-1");
  return { code, out: r.stdout };
}

/** `vm <args>` running on a pseudo-terminal, typed at by the test. */
export class TerminalSession {
  out = "";
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reading: Promise<void>;

  /** Starts `vm <args>` with `t`'s environment and `env`. */
  constructor(t: TestEnv, args: string[], env: Record<string, string> = {}) {
    const cmd = quoteWords([t.vmExe, ...args]);
    const child = spawnPiped("script", ["-qec", `${cmd}; echo "rc=$?"`, "/dev/null"], {
      ...t.env,
      ...env,
    });
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#reading = (async () => {
      const dec = new TextDecoder();
      for await (const c of child.stdout) this.out += dec.decode(c, { stream: true });
    })();
    child.stderr.cancel();
  }

  /** Waits until the output after `from` holds `text` (within `ms`); whether it did. */
  waitFor(text: string | RegExp, ms = 15_000, from = 0): Promise<boolean> {
    const has = () => {
      const tail = this.out.slice(from);
      return typeof text === "string" ? tail.includes(text) : text.test(tail);
    };
    return waitFor(has, ms);
  }

  /** Types `line` and Enter. */
  type(line: string): Promise<void> {
    return this.#writer.write(new TextEncoder().encode(line + "\r"));
  }

  /** Waits (at most `ms`) for the command to end; its exit code, -1 when it did not. */
  async exit(ms = 30_000): Promise<number> {
    const ended = await this.waitFor(/rc=\d+/, ms);
    if (!ended) return -1;
    return Number(/rc=(\d+)/.exec(this.out)?.[1] ?? "-1");
  }

  /** Ends script (by its PID) and waits for it and its output. */
  async close(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch (e) {
      if (!(e instanceof TypeError)) throw e; // already exited
    }
    await this.#child.status;
    try {
      await this.#writer.close();
    } catch (e) {
      if (!(e instanceof TypeError) && !(e instanceof Deno.errors.BrokenPipe)) throw e;
    }
    await this.#reading;
  }
}
