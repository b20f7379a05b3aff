/**
 * `vm`: QEMU virtual machines as runit services. The CLI and the runit run
 * target in one program. This file alone parses argv, prints and exits; all
 * work is done in `lib/`, through one flat command table.
 * @module
 */

import { parseArgs } from "node:util";
import { resolve } from "node:path";
import {
  describe,
  EXIT_CHECK,
  EXIT_SYSTEM,
  EXIT_USAGE,
  SystemError,
  UsageError,
  VmError,
} from "./lib/errors.ts";
import { type Config, loadConfig } from "./lib/config.ts";
import { LineReader } from "./lib/line_reader.ts";
import { availableTemplates, checkSpec, checkWait, type MakeSpec, makeVm } from "./lib/make.ts";
import { checkSize } from "./lib/qemu_img.ts";
import { control, runSv, svWait } from "./lib/runit.ts";
import { setupDefault } from "./lib/setup.ts";
import { runVm } from "./lib/start.ts";
import { stopVm } from "./lib/stop.ts";
import { finishVm } from "./lib/finish.ts";
import { sleepBackoff } from "./lib/backoff.ts";
import { appendOnce } from "./lib/templates.ts";
import { listVms, readWait, requireVm } from "./lib/vm_dir.ts";
import { checkName } from "./lib/vm_name.ts";

/** One entry of the command table. */
interface Command {
  /** Arguments, as shown in usage. */
  args: string;
  /** One line for `vm help`. */
  summary: string;
  /** Longer help for `vm <command> --help` (options). */
  help?: string;
  /** Internal commands (runit's entry points) are not listed. */
  hidden?: boolean;
  /** Runs the command; returns the exit code. */
  run: (argv: string[]) => Promise<number> | number;
}

const enc = new TextEncoder();

function print(text = ""): void {
  Deno.stdout.writeSync(enc.encode(text + "\n"));
}

function printErr(text: string): void {
  Deno.stderr.writeSync(enc.encode(text + "\n"));
}

/** Parses a command's options strictly; unknown options are a usage error. */
function parse<T extends Record<string, { type: "string" | "boolean"; short?: string }>>(
  argv: string[],
  options: T,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${describe(e)}; see "vm help"`);
  }
}

function usageOf(name: string): string {
  const c = COMMANDS[name];
  return c === undefined ? "" : `usage: vm ${name}${c.args ? " " + c.args : ""}`;
}

function wantArgs(name: string, positionals: string[], min: number, max = min): void {
  if (positionals.length < min || positionals.length > max) {
    throw new UsageError(`Wrong arguments; ${usageOf(name)}`);
  }
}

// ---------------------------------------------------------------- commands

async function cmdMake(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    disk: { type: "string" },
    wait: { type: "string" },
    log: { type: "boolean" },
    "no-log": { type: "boolean" },
    templates: { type: "string" },
    yes: { type: "boolean", short: "y" },
  });
  wantArgs("make", positionals, 1, 2);
  const [name = "", iso] = positionals;
  checkName(name);
  if (values.log && values["no-log"]) throw new UsageError('Give "--log" or "--no-log", not both');
  const cfg = loadConfig();
  // Everything the flags say is checked before any question is asked.
  const spec: MakeSpec = {
    name,
    disk: values.disk ?? cfg.defaultDrive,
    wait: values.wait ?? cfg.defaultWait,
    log: values.log === true,
    templates: (values.templates ?? "").split(/\s+/).filter((t) => t !== ""),
    defaults: cfg.defaultTemplates,
  };
  if (iso !== undefined) spec.iso = iso;
  if (values.disk !== undefined) checkSize(values.disk);
  if (values.wait !== undefined) checkWait(values.wait);
  checkSpec(cfg.vmdir, spec);

  const input = new LineReader(Deno.stdin);
  const ask = async (question: string): Promise<string> => {
    Deno.stdout.writeSync(enc.encode(question));
    const answer = (await input.readLine())?.trim();
    if (!Deno.stdin.isTerminal()) print();
    return answer ?? "";
  };
  if (values.disk === undefined && !values.yes) {
    spec.disk = (await ask(`Disk image size for ${name}? `)) || cfg.defaultDrive;
    checkSize(spec.disk);
  }
  if (values.wait === undefined && !values.yes) {
    spec.wait = (await ask(`Safe poweroff wait time for ${name}? `)) || cfg.defaultWait;
    checkWait(spec.wait);
  }
  if (!values.log && !values["no-log"] && !values.yes) {
    spec.log = /^y(es)?$/i.test(await ask(`Log ${name}? [y/N] `));
  }
  if (values.templates === undefined && !values.yes) {
    print(`Default templates: ${cfg.defaultTemplates.join(" ")}`);
    print(`Available templates: ${availableTemplates(cfg.vmdir).join(" ")}`);
    spec.templates = (await ask(`Templates for ${name}? `)).split(/\s+/).filter((t) => t !== "");
  }
  const result = await makeVm(cfg.vmdir, spec);
  print(`Created VM "${name}" in "${result.dir}" (templates: ${result.templates.join(" ")})`);
  if (result.started) {
    print(`Started "${name}" once; "vm sv status ${name}" shows it`);
  } else if (result.vmdRunning) {
    print(`vmd did not pick up "${name}" within 7 s; start it with "vm sv once ${name}"`);
  } else {
    print(
      `vmd is not running for "${cfg.vmdir}"; start it with "vm daemon" ` +
        `(or "runsvdir ${cfg.vmdir}"), then "vm sv once ${name}"`,
    );
  }
  return 0;
}

function cmdBoot(argv: string[]): number {
  const [name, ...qemuArgs] = argv;
  if (name === undefined) throw new UsageError(`Wrong arguments; ${usageOf("boot")}`);
  const cfg = loadConfig();
  const dir = requireVm(cfg.vmdir, name);
  appendOnce(dir, qemuArgs);
  try {
    control(dir, "o");
  } catch (e) {
    throw new SystemError(
      `${describe(e)}; the arguments are kept in templates/once for the next start`,
    );
  }
  print(`Booting "${name}" once${qemuArgs.length ? " with: " + qemuArgs.join(" ") : ""}`);
  return 0;
}

async function cmdSv(argv: string[]): Promise<number> {
  const opts: string[] = [];
  let i = 0;
  while (argv[i] === "-v" || argv[i] === "-w") {
    opts.push(argv[i] ?? "");
    if (argv[i] === "-w") {
      if (argv[i + 1] === undefined) throw new UsageError(`"-w" needs seconds; ${usageOf("sv")}`);
      opts.push(argv[i + 1] ?? "");
      i++;
    }
    i++;
  }
  const [command, ...names] = argv.slice(i);
  if (command === undefined || names.length === 0) {
    throw new UsageError(`Wrong arguments; ${usageOf("sv")}`);
  }
  const cfg = loadConfig();
  const waits = names.map((n) => readWait(requireVm(cfg.vmdir, n)));
  return await runSv(cfg.vmdir, [...opts, command, ...names], svWait(waits));
}

function cmdList(argv: string[]): number {
  const { positionals } = parse(argv, {});
  wantArgs("list", positionals, 0);
  const cfg = loadConfig();
  for (const name of listVms(cfg.vmdir)) print(name);
  return 0;
}

function cmdSetup(argv: string[]): number {
  const { positionals } = parse(argv, {});
  wantArgs("__setup", positionals, 2);
  const [src = "", exe = ""] = positionals;
  const cfg: Config = loadConfig();
  const r = setupDefault(src, cfg.vmdir, exe);
  print(
    `${r.dir}: ${r.added.length} template(s) added, service scripts ` +
      (r.scripts.length ? `written (${r.scripts.join(" ")})` : "unchanged"),
  );
  for (const t of r.kept) print(`${r.dir}: kept your edited template "${t}"`);
  return 0;
}

/** Runs a runit entry point: any error is one `vm: fatal:` line (in the VM's log) and `code`. */
async function runitEntry(code: number, work: () => Promise<number>): Promise<number> {
  try {
    return await work();
  } catch (e) {
    printErr(`vm: fatal: ${describe(e)}`);
    return code;
  }
}

function cmdRun(argv: string[]): Promise<number> {
  return runitEntry(EXIT_SYSTEM, async () => {
    wantArgs("__run", argv, 1);
    return await runVm(loadConfig(), resolve(argv[0] ?? "."));
  });
}

function cmdStop(argv: string[]): Promise<number> {
  return runitEntry(EXIT_CHECK, async () => {
    wantArgs("__stop", argv, 1);
    const dir = resolve(argv[0] ?? ".");
    Deno.chdir(dir);
    const wait = readWait(dir);
    const r = await stopVm(wait);
    printErr(
      r.how === "poweroff"
        ? `vm: stop: the guest powered off in ${(r.ms / 1000).toFixed(1)} s`
        : `vm: stop: the guest did not power off within ${wait} s (wait); QEMU was told to quit`,
    );
    return 0;
  });
}

function cmdFinish(argv: string[]): Promise<number> {
  return runitEntry(EXIT_SYSTEM, async () => {
    const [dir = ".", code = "", signal = ""] = argv;
    const vmDir = resolve(dir);
    const r = await finishVm(loadConfig(), vmDir, code, signal);
    if (r.backoff !== undefined) {
      const how = code === "-1" ? `signal ${signal}` : `exit ${code}`;
      printErr(
        `vm: QEMU ended after ${r.ran.toFixed(1)} s (${how}); next start in ${r.backoff.delay} s ` +
          `(crash-loop backoff, ${r.backoff.failures} quick exit(s) in a row)`,
      );
      await sleepBackoff(vmDir, r.backoff.until);
    }
    return r.status;
  });
}

function cmdHelp(argv: string[]): number {
  const [name] = argv;
  if (name !== undefined) {
    const c = COMMANDS[name];
    if (c === undefined || c.hidden) {
      throw new UsageError(`"${name}" is not a vm command; see "vm help"`);
    }
    print(usageOf(name));
    print(`  ${c.summary}`);
    if (c.help) print(c.help);
    return 0;
  }
  print(helpText());
  return 0;
}

function helpText(): string {
  const rows = Object.entries(COMMANDS).filter(([, c]) => !c.hidden).map((
    [n, c],
  ) => [`${n}${c.args ? " " + c.args : ""}`, c.summary] as const);
  const width = Math.max(...rows.map(([u]) => u.length));
  return [
    "vm - QEMU virtual machines as runit services",
    "",
    "usage: vm <command> [<args>]",
    "",
    "commands:",
    ...rows.map(([u, s]) => `  ${u.padEnd(width)}  ${s}`),
    "",
    "environment:",
    "  VMCONF    config file, read (never run) by vm; its KEY=value lines override the",
    "            environment. Default: $XDG_CONFIG_HOME/runit-vm/conf, then",
    "            ~/.config/runit-vm/conf (when not root), finally /etc/runit-vm/conf",
    "  VMDIR     directory of the VMs; default ~/.local/share/runit-vm",
    "  VMCONF_DEFAULT_TEMPLATES, VMCONF_DEFAULT_DRIVE, VMCONF_DEFAULT_WAIT",
    "            what vm make offers (default: audio-pa cpu-host drive kvm mem, 20G, 10)",
    "  VMCONF_QEMU, VMCONF_QEMU_ARCH",
    "            the QEMU binary, or qemu-system-<arch> (default: the host's arch)",
    "",
    "exit codes: 0 ok, 1 check failed, 100 usage, 111 system failure",
  ].join("\n");
}

/** The command table: every command of `vm`, in the order `vm help` lists them. */
const COMMANDS: Record<string, Command> = {
  list: { args: "", summary: "list the VMs in VMDIR", run: cmdList },
  make: {
    args: "<vm> [<iso>]",
    summary: "interactively create a new VM",
    help: [
      "options (each answers a question without asking it):",
      "  --disk SIZE         disk image size (qemu-img syntax, e.g. 20G)",
      "  --wait SECONDS      seconds the guest gets to power off",
      "  --log, --no-log     log QEMU's output to log/main/current",
      '  --templates "a b"   templates on top of the defaults (mem-4g replaces mem)',
      "  -y, --yes           take the default for every question not answered",
    ].join("\n"),
    run: cmdMake,
  },
  boot: { args: "<vm> [<arg>...]", summary: "boot a VM once and pass args to QEMU", run: cmdBoot },
  sv: { args: "<command> <vm>...", summary: "directly control runsv (runit's sv)", run: cmdSv },
  help: { args: "[<command>]", summary: "display this help", run: cmdHelp },
  __run: { args: "<dir>", summary: "runit run: become QEMU", hidden: true, run: cmdRun },
  __stop: { args: "<dir>", summary: "runit control/t: graceful stop", hidden: true, run: cmdStop },
  __finish: {
    args: "<dir> <code> <signal>",
    summary: "runit finish",
    hidden: true,
    run: cmdFinish,
  },
  __setup: {
    args: "<default-src> <vm-exe>",
    summary: "create $VMDIR/.default",
    hidden: true,
    run: cmdSetup,
  },
};

/** Runs `vm` with `argv`; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    printErr(helpText());
    return EXIT_USAGE;
  }
  if (name === "--help" || name === "-h") return cmdHelp([]);
  const command = COMMANDS[name];
  if (command === undefined) {
    printErr(`vm: fatal: "${name}" is not a vm command; see "vm help"`);
    return EXIT_USAGE;
  }
  const wantsHelp = (a: string | undefined) => a === "--help" || a === "-h";
  if (!command.hidden && (wantsHelp(rest[0]) || (name !== "boot" && rest.some(wantsHelp)))) {
    return cmdHelp([name]);
  }
  try {
    return await command.run(rest);
  } catch (e) {
    if (e instanceof VmError) {
      printErr(`vm: fatal: ${e.message}`);
      return e.exitCode;
    }
    printErr(`vm: fatal: ${describe(e)}`);
    return new SystemError("").exitCode;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
