/**
 * Test-only entry point for `vm image …` until main.ts dispatches it:
 * `deno run -A tests/support/run_cli.ts image <sub> [args] [--opt value | --flag]`.
 * Errors are printed as `vm` prints them (`vm: fatal: …`) with their exit code.
 * Not a test file.
 * @module
 */

import { run } from "../../cli/image.ts";
import { describe, VmError } from "../../lib/errors.ts";

const FLAGS = new Set(["insecure", "json", "copy"]);
const [area = "", sub = "", ...rest] = Deno.args;
const args: string[] = [];
const opts: Record<string, string | boolean> = {};
for (let i = 0; i < rest.length; i++) {
  const a = rest[i] ?? "";
  if (!a.startsWith("--")) args.push(a);
  else if (FLAGS.has(a.slice(2))) opts[a.slice(2)] = true;
  else opts[a.slice(2)] = rest[++i] ?? "";
}
try {
  Deno.exit(await run({ command: `${area} ${sub}`, args, opts }));
} catch (e) {
  Deno.stderr.writeSync(new TextEncoder().encode(`vm: fatal: ${describe(e)}\n`));
  Deno.exit(e instanceof VmError ? e.exitCode : 111);
}
