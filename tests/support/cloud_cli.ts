/**
 * A test-only dispatcher for the cloud commands until the lead plugs
 * cli/table_cloud.ts into main.ts: `deno run -A tests/support/cloud_cli.ts
 * <command> [args…]` parses the arguments by the command's row (options
 * `--name[=value]`, `-x`; pass-through after the first argument) and calls
 * its `run`, printing errors as `vm: fatal: …` with their exit code, as
 * main.ts does. `start` runs cli/start_ssh.ts (`vm start --ssh`). Not a test file.
 * @module
 */

import { describe, EXIT_USAGE, VmError } from "../../lib/errors.ts";
import type { CommandModule, CommandSpec, Invocation, OptionSpec } from "../../cli/command.ts";
import { CLOUD_COMMANDS, START_SSH_OPTIONS } from "../../cli/table_cloud.ts";
import type { TestEnv, VmRun } from "./harness.ts";

const START: CommandSpec = {
  name: "start",
  summary: "start --ssh",
  args: [{ name: "<vm>", kind: "vm", repeat: true }],
  options: [...START_SSH_OPTIONS, { name: "timeout", value: "S", help: "" }],
  load: () => import("../../cli/start_ssh.ts"),
};

/** Parses `argv` by `spec` into an Invocation. Throws VmError (usage) for unknown options. */
export function parseArgs(spec: CommandSpec, argv: readonly string[]): Invocation {
  const inv: Invocation = { command: spec.name, args: [], opts: {} };
  const byName = (n: string) => spec.options.find((o) => o.name === n || o.short === n);
  const set = (o: OptionSpec, v: string | true) => {
    const old = inv.opts[o.name];
    inv.opts[o.name] = o.repeat && typeof v === "string"
      ? [...(Array.isArray(old) ? old : []), v]
      : v;
  };
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i] ?? "";
    if (spec.passThrough && inv.args.length > 0) {
      inv.args.push(w);
      continue;
    }
    const m = /^--?([^=]+)(?:=(.*))?$/.exec(w);
    const o = m === null || w === "--" ? undefined : byName(m[1] ?? "");
    if (m !== null && w !== "--" && o === undefined && !/^-[0-9]/.test(w)) {
      throw new VmError(`Unknown option "${w}" of "vm ${spec.name}"`, EXIT_USAGE);
    }
    if (o === undefined) inv.args.push(w);
    else if (o.value === undefined) set(o, true);
    else set(o, m?.[2] ?? argv[++i] ?? "");
  }
  return inv;
}

/**
 * Runs this dispatcher as a subprocess with the env of `t` (its VMDIR, its
 * config): as `vm <args>` will once the rows are in the table.
 */
export async function cloudCli(
  t: TestEnv,
  args: string[],
  opts: { env?: Record<string, string> } = {},
): Promise<VmRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", new URL(import.meta.url).pathname, ...args],
    env: { ...t.env, ...opts.env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

if (import.meta.main) {
  const [name, ...argv] = Deno.args;
  const spec = [...CLOUD_COMMANDS, START].find((c) => c.name === name);
  let code: number;
  try {
    if (spec?.load === undefined) throw new VmError(`No command "${name}"`, EXIT_USAGE);
    const mod: CommandModule = await spec.load();
    code = await mod.run(parseArgs(spec, argv));
  } catch (e) {
    Deno.stderr.writeSync(new TextEncoder().encode(`vm: fatal: ${describe(e)}\n`));
    code = e instanceof VmError ? e.exitCode : 70;
  }
  Deno.exit(code);
}
