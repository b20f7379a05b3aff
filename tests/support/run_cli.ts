/**
 * Test support: a tiny stand-in for main.ts's dispatch of `vm export …` and
 * `vm import …` (main.ts does not route them yet): finds the row in
 * cli/table_export.ts, parses options by it, runs the command module, and
 * exits as main.ts does (`vm: fatal: …` and the error's exit code).
 * Run: `deno run -A tests/support/run_cli.ts export nomad web --json`.
 * Not a test file.
 * @module
 */

import { EXPORT_COMMANDS } from "../../cli/table_export.ts";
import type { CommandSpec, Invocation } from "../../cli/command.ts";
import { describe, UsageError, VmError } from "../../lib/errors.ts";

function parse(spec: CommandSpec, command: string, argv: string[]): Invocation {
  const inv: Invocation = { command, args: [], opts: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (a === "-" || !a.startsWith("-")) {
      inv.args.push(a);
      continue;
    }
    const name = a.startsWith("--") ? a.slice(2) : a.slice(1);
    const opt = spec.options.find((o) => o.name === name || o.short === name);
    if (opt === undefined) {
      throw new UsageError(`Unknown option "${a}"; see "vm ${command} --help"`);
    }
    if (opt.value === undefined) inv.opts[opt.name] = true;
    else {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`"${a}" needs a value`);
      inv.opts[opt.name] = v;
    }
  }
  return inv;
}

async function main(argv: string[]): Promise<number> {
  const [top, sub, ...rest] = argv;
  const row = EXPORT_COMMANDS.find((c) => c.name === top)?.subcommands?.find((s) => s.name === sub);
  if (row?.load === undefined) throw new UsageError(`"${argv.join(" ")}" is not a command`);
  const mod = await row.load();
  return await mod.run(parse(row, `${top} ${sub}`, rest));
}

try {
  Deno.exit(await main(Deno.args));
} catch (e) {
  Deno.stderr.writeSync(new TextEncoder().encode(`vm: fatal: ${describe(e)}\n`));
  Deno.exit(e instanceof VmError ? e.exitCode : 111);
}
