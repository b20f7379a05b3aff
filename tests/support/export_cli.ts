/**
 * Test support: runs `vm export …` / `vm import …` as a subprocess through
 * tests/support/run_cli.ts (main.ts does not dispatch them yet), with a
 * TestEnv's environment. Not a test file.
 * @module
 */

import { join } from "node:path";
import { quoteWord, quoteWords } from "../../lib/text/shell_words.ts";
import { REPO, type TestEnv, type VmRun } from "./harness.ts";

/** The command line that runs the export/import CLI (for a shell pipeline). */
export function exportCliCommand(args: readonly string[]): string {
  return quoteWords([Deno.execPath(), "run", "--allow-all", "--quiet"]) + " " +
    quoteWord(join(REPO, "tests/support/run_cli.ts")) + " " + quoteWords(args);
}

/** Runs `vm <args>` (export or import) with `t`'s environment plus `env`. */
export async function vmx(
  t: TestEnv,
  args: string[],
  env: Record<string, string> = {},
): Promise<VmRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", join(REPO, "tests/support/run_cli.ts"), ...args],
    env: { ...t.env, ...env },
    clearEnv: true,
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
