/**
 * `vm`: QEMU virtual machines as runit services. The CLI and the runit run
 * target in one program. This file alone parses argv, prints and exits; all
 * work is done in `lib/`, through one flat command table.
 *
 * Each command imports the `lib/` modules it needs when it runs (`await
 * import`), so `vm __run` and `vm list` load only their own few modules:
 * loading all of them costs ~30 ms on every start of every VM.
 * @module
 */

import {
  CheckFailedError,
  describe,
  EXIT_CHECK,
  EXIT_SYSTEM,
  EXIT_USAGE,
  SystemError,
  UsageError,
  VmError,
} from "./lib/errors.ts";
import type { Shell } from "./cli/completions.ts";
import type { Config } from "./lib/vm/config.ts";
import type { MakeSpec } from "./lib/actions/make.ts";

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
  /** What the arguments complete to, when `args` does not say (syntax: lib/completions.ts). */
  complete?: string;
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
async function parse<T extends Record<string, { type: "string" | "boolean"; short?: string }>>(
  argv: string[],
  options: T,
) {
  const { parseArgs } = await import("node:util");
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    // node's messages are long and name no command: say it our way.
    const text = describe(e);
    const option = /'(-[^' ,]+)/.exec(text)?.[1] ?? "?";
    const see = `see "vm ${running} --help"`;
    if (/argument missing/.test(text)) throw new UsageError(`"${option}" needs a value; ${see}`);
    if (/does not take an argument/.test(text)) {
      throw new UsageError(`"${option}" takes no value; ${see}`);
    }
    throw new UsageError(`Unknown option "${option}"; ${see}`);
  }
}

/** The command main() runs, for messages. */
let running = "";

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
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { LineReader } = await import("./lib/os/line_reader.ts");
  const { availableTemplates, checkSpec, checkWait, makeVm } = await import(
    "./lib/actions/make.ts"
  );
  const { checkSize } = await import("./lib/qemu/img.ts");
  const { checkName } = await import("./lib/vm/name.ts");
  const { values, positionals } = await parse(argv, {
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

async function cmdBoot(argv: string[]): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { control } = await import("./lib/runit/status.ts");
  const { appendOnce } = await import("./lib/vm/templates.ts");
  const { requireVm } = await import("./lib/vm/dir.ts");
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
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { runSv, svWait } = await import("./lib/runit/status.ts");
  const { readWait, requireVm } = await import("./lib/vm/dir.ts");
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

async function cmdSetup(argv: string[]): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { setupDefault } = await import("./lib/actions/setup_default.ts");
  const { positionals } = await parse(argv, {});
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

async function cmdRun(argv: string[]): Promise<number> {
  const { resolve } = await import("./lib/os/path.ts");
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { runVm } = await import("./lib/service/run.ts");
  return runitEntry(EXIT_SYSTEM, async () => {
    wantArgs("__run", argv, 1);
    return await runVm(loadConfig(), resolve(argv[0] ?? "."));
  });
}

async function cmdStop(argv: string[]): Promise<number> {
  const { resolve } = await import("./lib/os/path.ts");
  const { stopVm } = await import("./lib/service/control_t.ts");
  const { readWait } = await import("./lib/vm/dir.ts");
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

async function cmdFinish(argv: string[]): Promise<number> {
  const { resolve } = await import("./lib/os/path.ts");
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { finishVm } = await import("./lib/service/finish.ts");
  const { backoffLine, sleepBackoff } = await import("./lib/service/backoff.ts");
  return runitEntry(EXIT_SYSTEM, async () => {
    const [dir = ".", code = "", signal = ""] = argv;
    const vmDir = resolve(dir);
    const r = await finishVm(loadConfig(), vmDir, code, signal);
    if (r.backoff !== undefined) {
      printErr(backoffLine({ ran: r.ran, backoff: r.backoff }, code, signal));
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

// ------------------------------------------- state and lifecycle: list, status, start, stop…

/** Whether to colour output: stdout is a terminal and NO_COLOR is unset or empty. */
function useColor(): boolean {
  return Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
}

async function cmdList(argv: string[]): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { listVms } = await import("./lib/vm/dir.ts");
  const { formatTable, listStates } = await import("./lib/vm/state.ts");
  const { values, positionals } = await parse(argv, {
    json: { type: "boolean" },
    quiet: { type: "boolean", short: "q" },
  });
  wantArgs("list", positionals, 0);
  if (values.json && values.quiet) throw new UsageError('Give "--json" or "--quiet", not both');
  const cfg = loadConfig();
  if (values.quiet) {
    for (const name of listVms(cfg.vmdir)) print(name);
    return 0;
  }
  const states = listStates(cfg.vmdir);
  print(values.json ? JSON.stringify(states, null, 2) : formatTable(states, useColor()));
  return 0;
}

async function cmdStatus(argv: string[]): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { requireVm } = await import("./lib/vm/dir.ts");
  const { formatStatus, isRunning, vmState } = await import("./lib/vm/state.ts");
  const { values, positionals } = await parse(argv, { json: { type: "boolean" } });
  wantArgs("status", positionals, 1, Infinity);
  const cfg = loadConfig();
  const dirs = positionals.map((n) => requireVm(cfg.vmdir, n));
  const states = positionals.map((n, i) => vmState(n, dirs[i] ?? ""));
  const color = useColor();
  print(
    values.json
      ? JSON.stringify(states, null, 2)
      : states.map((s) => formatStatus(s, color)).join("\n\n"),
  );
  return states.every(isRunning) ? 0 : EXIT_CHECK;
}

/** Parses `--timeout S` (seconds, may have a fraction). */
function parseTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value)) {
    throw new UsageError(`"--timeout" needs seconds (e.g. 5), not "${value}"`);
  }
  return Number(value);
}

/**
 * Runs `act` on each named VM in parallel, printing its line or its error as
 * each ends. Unknown VMs (100) and unsupervised ones (111) fail before any is
 * touched; otherwise the exit code is the number of VMs that failed (max 99).
 */
async function eachVm(
  command: string,
  names: string[],
  act: (name: string, dir: string) => Promise<string>,
): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { requireVm } = await import("./lib/vm/dir.ts");
  const { failureExit, requireSupervised } = await import("./lib/actions/start_stop.ts");
  wantArgs(command, names, 1, Infinity);
  const cfg = loadConfig();
  const unique = [...new Set(names)];
  for (const n of unique) requireVm(cfg.vmdir, n);
  const dirs = await Promise.all(unique.map((n) => requireSupervised(cfg.vmdir, n)));
  let failures = 0;
  await Promise.all(unique.map(async (n, i) => {
    try {
      print(await act(n, dirs[i] ?? ""));
    } catch (e) {
      failures++;
      printErr(`vm: fatal: ${describe(e)}`);
    }
  }));
  return failureExit(failures);
}

async function cmdStart(argv: string[]): Promise<number> {
  const { startMessage, startVm } = await import("./lib/actions/start_stop.ts");
  const { values, positionals } = await parse(argv, { timeout: { type: "string" } });
  const timeout = parseTimeout(values.timeout);
  return eachVm(
    "start",
    positionals,
    async (n, dir) => startMessage(await startVm(n, dir, timeout)),
  );
}

function stopOptions(values: { timeout?: string; force?: boolean }) {
  if (values.force && values.timeout !== undefined) {
    throw new UsageError('Give "--timeout" or "--force", not both');
  }
  const timeoutS = parseTimeout(values.timeout);
  return { force: values.force === true, ...(timeoutS === undefined ? {} : { timeoutS }) };
}

async function cmdStopVms(argv: string[]): Promise<number> {
  const { shutdownVm, stopMessage } = await import("./lib/actions/start_stop.ts");
  const { values, positionals } = await parse(argv, {
    timeout: { type: "string" },
    force: { type: "boolean" },
  });
  const opts = stopOptions(values);
  return eachVm("stop", positionals, async (n, dir) => stopMessage(await shutdownVm(n, dir, opts)));
}

async function cmdRestart(argv: string[]): Promise<number> {
  const { restartMessage, restartVm } = await import("./lib/actions/start_stop.ts");
  const { values, positionals } = await parse(argv, {
    timeout: { type: "string" },
    force: { type: "boolean" },
  });
  const opts = stopOptions(values);
  return eachVm("restart", positionals, async (n, dir) => {
    const r = await restartVm(n, dir, opts);
    return restartMessage(r.stop, r.start);
  });
}

async function cmdKill(argv: string[]): Promise<number> {
  const { killMessage, killVm } = await import("./lib/actions/start_stop.ts");
  const { positionals } = await parse(argv, {});
  return eachVm("kill", positionals, async (n, dir) => killMessage(await killVm(n, dir)));
}

async function cmdAutostart(argv: string[]): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { requireVm } = await import("./lib/vm/dir.ts");
  const { vmState } = await import("./lib/vm/state.ts");
  const { autostartMessage, setAutostart } = await import("./lib/vm/autostart.ts");
  const { positionals } = await parse(argv, {});
  wantArgs("autostart", positionals, 1, 2);
  const [name = "", setting] = positionals;
  if (setting !== undefined && setting !== "on" && setting !== "off") {
    throw new UsageError(`Say "on" or "off", not "${setting}"; ${usageOf("autostart")}`);
  }
  const dir = requireVm(loadConfig().vmdir, name);
  if (setting !== undefined) setAutostart(dir, setting === "on");
  print(autostartMessage(name, vmState(name, dir).autostart));
  return 0;
}

// ------------------------------------------- access: console, monitor, qmp, log, completions

/** Standard input, one line at a time (HMP line mode). */
async function* stdinLines(): AsyncGenerator<string> {
  const { LineReader } = await import("./lib/os/line_reader.ts");
  const input = new LineReader(Deno.stdin);
  for (;;) {
    const line = await input.readLine();
    if (line === undefined) return;
    yield line;
  }
}

/** Attaches the terminal to an open console or monitor connection until Ctrl-]. */
async function attachTerminal(conn: Deno.Conn, what: string): Promise<number> {
  const { attachInteractive, withRawTerminal } = await import("./lib/qemu/console.ts");
  const how = await withRawTerminal(
    Deno.stdin,
    (signal) => attachInteractive(conn, Deno.stdin, Deno.stdout, signal),
  );
  if (how === "closed") throw new CheckFailedError(`${what} closed; QEMU exited or is stopping`);
  printErr(`\nDetached from ${what.replace(/^The/, "the")}`);
  return 0;
}

async function cmdConsole(argv: string[]): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { requireVm } = await import("./lib/vm/dir.ts");
  const { DEFAULT_IDLE_MS, attachPiped, connectVmSocket } = await import("./lib/qemu/console.ts");
  const { values, positionals } = await parse(argv, { idle: { type: "string" } });
  wantArgs("console", positionals, 1);
  const name = positionals[0] ?? "";
  let idleMs = DEFAULT_IDLE_MS;
  if (values.idle !== undefined) {
    if (!/^[0-9]+(\.[0-9]+)?$/.test(values.idle)) {
      throw new UsageError(`"--idle" needs seconds (e.g. 2), not "${values.idle}"`);
    }
    idleMs = Number(values.idle) * 1000;
  }
  const dir = requireVm(loadConfig().vmdir, name);
  const conn = await connectVmSocket(name, dir, "console");
  const what = `The serial console of "${name}"`;
  if (!Deno.stdin.isTerminal()) {
    const how = await attachPiped(conn, Deno.stdin, Deno.stdout, idleMs);
    if (how === "closed") throw new CheckFailedError(`${what} closed; QEMU exited or is stopping`);
    return 0;
  }
  printErr(`Connected to the serial console of "${name}"; Ctrl-] detaches`);
  return await attachTerminal(conn, what);
}

async function cmdMonitor(argv: string[]): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { requireVm } = await import("./lib/vm/dir.ts");
  const { connectVmSocket, hmpGreeting, hmpSession, writeAll } = await import(
    "./lib/qemu/console.ts"
  );
  const { positionals } = await parse(argv, {});
  wantArgs("monitor", positionals, 1);
  const name = positionals[0] ?? "";
  const dir = requireVm(loadConfig().vmdir, name);
  const conn = await connectVmSocket(name, dir, "monitor");
  if (!Deno.stdin.isTerminal()) {
    await hmpSession(conn, name, stdinLines(), (text) => writeAll(Deno.stdout, enc.encode(text)));
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
  await writeAll(Deno.stdout, enc.encode(greeting));
  return await attachTerminal(conn, `The monitor of "${name}"`);
}

async function cmdQmp(argv: string[]): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { requireVm } = await import("./lib/vm/dir.ts");
  const { parseQmpArguments, runQmp } = await import("./lib/qemu/qmp_command.ts");
  const { positionals } = await parse(argv, {});
  wantArgs("qmp", positionals, 2, 3);
  const [name = "", command = "", json] = positionals;
  const args = json === undefined ? undefined : parseQmpArguments(json);
  const dir = requireVm(loadConfig().vmdir, name);
  const value = await runQmp(name, dir, command, args);
  print(JSON.stringify(value ?? {}, null, 2));
  return 0;
}

async function cmdLog(argv: string[]): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { requireVm } = await import("./lib/vm/dir.ts");
  const { DEFAULT_LINES, followLog, logFile, parseLineCount } = await import("./lib/vm/log.ts");
  const { values, positionals } = await parse(argv, {
    follow: { type: "boolean", short: "f" },
    lines: { type: "string", short: "n" },
  });
  wantArgs("log", positionals, 1);
  const name = positionals[0] ?? "";
  const n = values.lines === undefined ? DEFAULT_LINES : parseLineCount(values.lines);
  const dir = requireVm(loadConfig().vmdir, name);
  await followLog(name, logFile(name, dir), n, values.follow === true, Deno.stdout);
  return 0;
}

async function cmdCompletions(argv: string[]): Promise<number> {
  const { SHELLS, completionScript } = await import("./cli/completions.ts");
  const { positionals } = await parse(argv, {});
  wantArgs("completions", positionals, 1);
  const shell = positionals[0] ?? "";
  if (!(SHELLS as readonly string[]).includes(shell)) {
    throw new UsageError(`No completions for "${shell}"; say bash, zsh or fish`);
  }
  const visible = Object.entries(COMMANDS).filter(([, c]) => !c.hidden).map(([name, c]) => ({
    name,
    args: c.args,
    summary: c.summary,
    help: c.help,
    complete: c.complete,
  }));
  Deno.stdout.writeSync(enc.encode(completionScript(shell as Shell, visible)));
  return 0;
}

async function cmdComplete(argv: string[]): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { availableTemplates } = await import("./lib/actions/make.ts");
  const { positionals } = await parse(argv, {});
  wantArgs("__complete", positionals, 1);
  if (positionals[0] !== "templates") {
    throw new UsageError(`Cannot complete "${positionals[0]}"; ${usageOf("__complete")}`);
  }
  for (const t of availableTemplates(loadConfig().vmdir)) print(t);
  return 0;
}

// ------------------------------------------- inspection and management of one VM

async function cmdArgs(argv: string[]): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { planStart } = await import("./lib/service/run.ts");
  const { requireVm } = await import("./lib/vm/dir.ts");
  const { formatArgv, runEnv } = await import("./lib/runit/run_env.ts");
  const { values, positionals } = await parse(argv, { lines: { type: "boolean" } });
  wantArgs("args", positionals, 1);
  const own = loadConfig();
  // As __run: the physical directory ("$PWD" of the run script) as cwd, vmd's environment.
  const dir = Deno.realPathSync(requireVm(own.vmdir, positionals[0] ?? ""));
  const { env } = runEnv(own.vmdir, dir, Deno.env.toObject());
  Deno.chdir(dir);
  const plan = await planStart(loadConfig(env), dir);
  print(formatArgv(plan.argv, values.lines === true));
  return 0;
}

async function cmdInfo(argv: string[]): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { requireVm } = await import("./lib/vm/dir.ts");
  const { formatInfo, vmInfo } = await import("./lib/actions/info.ts");
  const { values, positionals } = await parse(argv, { json: { type: "boolean" } });
  wantArgs("info", positionals, 1);
  const name = positionals[0] ?? "";
  const cfg = loadConfig();
  const info = await vmInfo(cfg, name, requireVm(cfg.vmdir, name));
  print(values.json ? JSON.stringify(info, null, 2) : formatInfo(info));
  return 0;
}

async function cmdDestroy(argv: string[]): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { LineReader } = await import("./lib/os/line_reader.ts");
  const { checkName } = await import("./lib/vm/name.ts");
  const { destroyVm, formatDestroyPlan, planDestroy } = await import("./lib/actions/destroy.ts");
  const { values, positionals } = await parse(argv, { yes: { type: "boolean", short: "y" } });
  wantArgs("destroy", positionals, 1);
  const name = checkName(positionals[0] ?? "");
  const cfg = loadConfig();
  const plan = await planDestroy(cfg, name);
  if (!values.yes) {
    print(formatDestroyPlan(plan));
    Deno.stdout.writeSync(enc.encode(`Delete VM "${name}"? [y/N] `));
    const answer = (await new LineReader(Deno.stdin).readLine())?.trim() ?? "";
    if (!Deno.stdin.isTerminal()) print();
    if (!/^y(es)?$/i.test(answer)) {
      print("Nothing deleted");
      return EXIT_CHECK;
    }
  }
  await destroyVm(plan);
  print(`Destroyed VM "${name}" ("${plan.dir}")`);
  return 0;
}

async function cmdRename(argv: string[]): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { checkName } = await import("./lib/vm/name.ts");
  const { renameVm } = await import("./lib/actions/destroy.ts");
  const { positionals } = await parse(argv, {});
  wantArgs("rename", positionals, 2);
  const [from = "", to = ""] = positionals;
  checkName(from);
  checkName(to);
  const r = await renameVm(loadConfig(), from, to);
  print(`Renamed VM "${from}" to "${to}" ("${r.to}")`);
  return 0;
}

async function cmdClone(argv: string[]): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { checkName } = await import("./lib/vm/name.ts");
  const { cloneVm } = await import("./lib/actions/destroy.ts");
  const { values, positionals } = await parse(argv, { linked: { type: "boolean" } });
  wantArgs("clone", positionals, 2);
  const [src = "", dst = ""] = positionals;
  checkName(src);
  checkName(dst);
  const r = await cloneVm(loadConfig(), src, dst, values.linked === true);
  print(`Cloned VM "${src}" to "${dst}" ("${r.dir}"); it is down: start it with "vm start ${dst}"`);
  for (const d of r.disks) {
    print(`  ${d.rel}: ${d.backing === undefined ? "full copy" : `overlay on "${d.backing}"`}`);
  }
  for (const [from, to] of r.macs) print(`  MAC address ${from} -> ${to}`);
  return 0;
}

async function cmdDisk(argv: string[]): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { requireVm } = await import("./lib/vm/dir.ts");
  const { checkStopped } = await import("./lib/qemu/processes.ts");
  const { chooseDisk, formatBytes, parseNewSize, resizeDisk, showDisk, vmDisks } = await import(
    "./lib/actions/disks.ts"
  );
  const { values, positionals } = await parse(argv, {
    drive: { type: "string" },
    shrink: { type: "boolean" },
  });
  wantArgs("disk", positionals, 3);
  const [name = "", op = "", sizeText = ""] = positionals;
  if (op !== "resize") throw new UsageError(`Unknown disk operation "${op}"; ${usageOf("disk")}`);
  const size = parseNewSize(sizeText);
  const cfg = loadConfig();
  const dir = requireVm(cfg.vmdir, name);
  checkStopped(name, dir, "resize its disk");
  const disk = chooseDisk(name, dir, vmDisks(cfg, dir), values.drive);
  const r = await resizeDisk(disk, size, values.shrink === true);
  print(
    `Resized "${showDisk(dir, disk)}" of VM "${name}": ` +
      `${formatBytes(r.before)} -> ${formatBytes(r.after)}`,
  );
  return 0;
}

async function cmdSnapshot(argv: string[]): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { requireVm } = await import("./lib/vm/dir.ts");
  const { checkNoDependents } = await import("./lib/actions/destroy.ts");
  const { checkStopped } = await import("./lib/qemu/processes.ts");
  const { diskInfos, formatSnapshots, showDisk, snapshotDisks, snapshotRows, vmDisks } =
    await import("./lib/actions/disks.ts");
  const { positionals } = await parse(argv, {});
  const [name = "", op = "", snap = ""] = positionals;
  if (op === "list") wantArgs("snapshot", positionals, 2);
  else if (op === "create" || op === "apply" || op === "delete") {
    wantArgs("snapshot", positionals, 3);
  } else {
    throw new UsageError(`Unknown snapshot operation "${op}"; ${usageOf("snapshot")}`);
  }
  const cfg = loadConfig();
  const dir = requireVm(cfg.vmdir, name);
  if (op === "list") {
    const text = formatSnapshots(snapshotRows(await diskInfos(vmDisks(cfg, dir))), dir);
    if (text !== "") print(text);
    return 0;
  }
  checkStopped(name, dir, `${op} a snapshot`);
  // Applying changes the data linked clones see through their overlays.
  if (op === "apply") await checkNoDependents(cfg, name, "applying a snapshot");
  const changed = await snapshotDisks(op, name, dir, vmDisks(cfg, dir), snap);
  const done = { create: "created", apply: "applied", delete: "deleted" }[op];
  print(
    `Snapshot "${snap}" ${done} on ${changed.map((d) => `"${showDisk(dir, d)}"`).join(", ")} ` +
      `of VM "${name}"`,
  );
  return 0;
}

async function cmdDaemon(argv: string[]): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { runDaemon } = await import("./lib/actions/daemon.ts");
  const { positionals } = await parse(argv, {});
  wantArgs("daemon", positionals, 0);
  return await runDaemon(loadConfig(), (line) => printErr(`vm daemon: ${line}`));
}

async function cmdService(argv: string[]): Promise<number> {
  const { loadConfig } = await import("./lib/vm/config.ts");
  const { checkKind, installService, nextSteps } = await import("./lib/actions/service_install.ts");
  const { positionals } = await parse(argv, {});
  wantArgs("service", positionals, 2);
  const [action = "", kind = ""] = positionals;
  if (action !== "install") {
    throw new UsageError(`Unknown service action "${action}"; ${usageOf("service")}`);
  }
  const cfg = loadConfig();
  const r = await installService(checkKind(kind), cfg.vmdir, cfg.env);
  const what = r.kind === "runit" ? "runit service" : "systemd user unit";
  print(`vmd ${what} ${r.action}: ${r.path}`);
  for (const line of nextSteps(r)) print(line);
  return 0;
}

/** The command table: every command of `vm`, in the order `vm help` lists them. */
const COMMANDS: Record<string, Command> = {
  list: {
    args: "[--json | -q]",
    summary: "list the VMs in VMDIR with their state",
    help: [
      "columns: NAME, STATE (run, down, finish, backoff, unsupervised = no runsv; plus",
      '  "want up"/"want down" when runsv wants otherwise), PID (QEMU\'s), UPTIME,',
      "  AUTOSTART (on = starts with vmd), WAIT (seconds the guest gets to power off)",
      "options:",
      "  --json       an array of {name, state, pid, uptime_s, autostart, wait_s, want,",
      "               paused, backoff_s}, null where unknown, sorted by name",
      "  -q, --quiet  names only",
    ].join("\n"),
    run: cmdList,
  },
  make: {
    args: "<vm> [<iso>]",
    summary: "interactively create a new VM",
    complete: "<new-vm> [<iso>]",
    help: [
      "options (each answers a question without asking it):",
      "  --disk SIZE         disk image size (qemu-img syntax, e.g. 20G)",
      "  --wait SECONDS      seconds the guest gets to power off",
      "  --log, --no-log     log QEMU's output to log/main/current",
      '  --templates "a b"   templates on top of the defaults (mem-4g replaces mem);',
      "                      serial-console adds the console socket of vm console",
      "  -y, --yes           take the default for every question not answered",
    ].join("\n"),
    run: cmdMake,
  },
  boot: { args: "<vm> [<arg>...]", summary: "boot a VM once and pass args to QEMU", run: cmdBoot },
  sv: {
    args: "<command> <vm>...",
    summary: "directly control runsv (runit's sv)",
    complete: "<sv-command> <vm>...",
    run: cmdSv,
  },
  status: {
    args: "[--json] <vm>...",
    summary: "show the state of VMs; exit 1 unless all run",
    help: [
      "fields as in vm list, one block per VM; exit 1 if any VM is not running (like sv check)",
      "options:",
      "  --json   an array of the objects vm list --json prints",
    ].join("\n"),
    run: cmdStatus,
  },
  start: {
    args: "<vm>... [--timeout S]",
    summary: "start VMs and wait until QEMU is up",
    help: [
      "options:",
      "  --timeout S   fail when QEMU is not up within S seconds (default 30)",
      "several VMs start in parallel; exit code: the number that failed (max 99), 100 for",
      "an unknown VM, 111 when vmd does not supervise a VM (nothing is done then)",
    ].join("\n"),
    run: cmdStart,
  },
  stop: {
    args: "<vm>... [--timeout S] [--force]",
    summary: "stop VMs gracefully (ACPI power-off) and say how long it took",
    help: [
      "runsv runs control/t: the guest gets its wait seconds to power off, then QEMU quits",
      "options:",
      "  --timeout S   when not down after S seconds (default: the VM's wait + 10), end QEMU:",
      "                quit through its monitor, then SIGTERM, then SIGKILL; a hanging",
      "                finish (cleanup hook) is ended too, so the VM is left down",
      "  --force       end QEMU at once that way (not graceful)",
      "several VMs stop in parallel; exit code: the number that failed (max 99), 100 for",
      "an unknown VM, 111 when vmd does not supervise a VM (nothing is done then)",
    ].join("\n"),
    run: cmdStopVms,
  },
  restart: {
    args: "<vm>... [--timeout S] [--force]",
    summary: "stop VMs (as vm stop), then start them",
    help: [
      "options: --timeout S and --force as for vm stop",
      "exit code: the number of VMs that failed (max 99), 100 usage, 111 not supervised",
    ].join("\n"),
    run: cmdRestart,
  },
  kill: {
    args: "<vm>...",
    summary: "kill QEMU at once (not graceful) and leave the VM down",
    help: "the guest is not shut down: its disks may need a check at the next boot",
    run: cmdKill,
  },
  autostart: {
    args: "<vm> [on|off]",
    summary: "whether vmd starts the VM (removes/creates its down file)",
    help: "without on|off, shows the setting; it takes effect when vmd next starts the VM",
    run: cmdAutostart,
  },
  console: {
    args: "<vm> [--idle S]",
    summary: "attach to the guest's serial console (Ctrl-] detaches)",
    help: [
      "needs the serial-console template (-serial unix:./supervise/console,...); QEMU serves",
      "one console client at a time. On a terminal: raw mode, every key goes to the guest",
      "(Ctrl-C too), Ctrl-] detaches and restores the terminal. Not a terminal: the input",
      "is piped to the console, then its output is copied until it is quiet, e.g.",
      "  echo uname -a | vm console web",
      "options:",
      "  --idle S   seconds of quiet after the input ends before exiting (default 1)",
      "exit: 0 detached or quiet, 1 the VM is not running, has no console socket, or the",
      "console closed (QEMU exited), 100 usage",
    ].join("\n"),
    run: cmdConsole,
  },
  monitor: {
    args: "<vm>",
    summary: "talk to QEMU's human monitor (HMP; Ctrl-] detaches)",
    help: [
      'On a terminal: QEMU\'s monitor with its line editing; Ctrl-] detaches ("quit" would end',
      "QEMU at once). Not a terminal: one command per input line, each answer printed",
      "without the prompt, e.g.  echo info status | vm monitor web",
      "QEMU serves one monitor client at a time.",
      "exit: 0 ok, 1 the VM is not running or the monitor closed, 100 usage, 111 no answer",
    ].join("\n"),
    run: cmdMonitor,
  },
  qmp: {
    args: "<vm> <command> [<json-arguments>]",
    summary: "run one QMP command and print its JSON reply",
    help: [
      "prints the command's return value as one JSON document, e.g.",
      "  vm qmp web query-status",
      '  vm qmp web eject \'{"device": "ide1-cd0"}\'',
      "QEMU serves one QMP client at a time (vm stop uses it while the guest powers off).",
      "exit: 0 ok, 1 QEMU answered with an error or the VM is not running, 100 usage",
      "(arguments not a JSON object), 111 no answer",
    ].join("\n"),
    complete: "<vm>",
    run: cmdQmp,
  },
  log: {
    args: "<vm> [-f] [-n N]",
    summary: "show the VM's log (log/main/current); -f follows it",
    help: [
      "options:",
      "  -f, --follow     keep printing what is appended (across svlogd's rotations)",
      "  -n, --lines N    print the last N lines first (default 10)",
      "exit: 0 ok, 1 the VM does not log (make VMs with vm make --log) or has no log yet,",
      "100 usage",
    ].join("\n"),
    run: cmdLog,
  },
  completions: {
    args: "bash|zsh|fish",
    summary: "print a shell completion script",
    help: [
      "completes commands, options, VM names and template names, e.g.",
      "  bash: source <(vm completions bash)   or save it as",
      "        ~/.local/share/bash-completion/completions/vm",
      "  zsh:  vm completions zsh > ~/.zfunc/_vm   (a directory in $fpath, before compinit)",
      "  fish: vm completions fish > ~/.config/fish/completions/vm.fish",
    ].join("\n"),
    run: cmdCompletions,
  },
  args: {
    args: "<vm> [--lines]",
    summary: "print the QEMU command line the VM's next start runs",
    help: [
      "works it out as vm __run does (pre_qemu hook run, templates/once included but kept),",
      "with the environment of the vmd (runsvdir) supervising VMDIR when there is one",
      "options:",
      "  --lines   one argument per line",
      "every word is shell-quoted; relative paths are relative to the VM's directory",
      "exit: 0 ok, 100 a template or the config cannot be parsed, 111 QEMU missing or a hook failed",
    ].join("\n"),
    run: cmdArgs,
  },
  info: {
    args: "[--json] <vm>",
    summary: "show a VM's state, templates, disks and settings",
    help: [
      "templates are shown with the arguments they resolve to (hooks are not run; vm args",
      "runs pre_qemu); disks are the files the templates name, as qemu-img info sees them",
      "options:",
      "  --json   one object: name, dir, state (as vm list --json), autostart, wait_s, log,",
      "           hooks, templates [{name, args}], disks [{file, path, info}]",
    ].join("\n"),
    run: cmdInfo,
  },
  destroy: {
    args: "<vm> [--yes]",
    summary: "delete a stopped VM with its disks, after asking",
    help: [
      "shows the directory and its disks (sizes on disk), then asks; only the VM's directory",
      "is removed: vmd stops supervising it first. Refused while it runs, and while linked",
      "clones use its disks (they are named)",
      "options:",
      "  -y, --yes   do not ask",
      "exit: 0 deleted, 1 running, has linked clones, or not confirmed (nothing deleted)",
    ].join("\n"),
    run: cmdDestroy,
  },
  rename: {
    args: "<vm> <new-name>",
    summary: "rename a stopped VM",
    help: [
      "one atomic rename of its directory: autostart, log, disks and snapshots stay, and its",
      "runsv keeps supervising it. Refused while it runs, and while linked clones use its",
      "disks (their backing file names point to it)",
    ].join("\n"),
    run: cmdRename,
  },
  clone: {
    args: "<vm> <new-vm> [--linked]",
    summary: "copy a stopped VM; the copy is down and gets new MAC addresses",
    help: [
      "copies every file of the VM (not runit's state nor its log); each disk is copied with",
      "qemu-img convert (internal snapshots are not copied); every mac= address in the",
      "templates gets a fresh one. Disks must be inside the VM's directory, named relative",
      "options:",
      "  --linked   make each disk a qcow2 overlay on the source's disk instead of a copy",
      "             (fast, small; the source must not change while the clone exists: do",
      "             not start it; vm destroy and vm rename refuse it)",
    ].join("\n"),
    run: cmdClone,
  },
  disk: {
    args: "<vm> resize +SIZE|SIZE",
    summary: "grow a stopped VM's disk (or set its size)",
    help: [
      "+10G grows the disk by 10 GiB, 40G makes it 40 GiB (qemu-img resize); grow the",
      "partition and file system in the guest afterwards",
      "options:",
      "  --drive FILE   the disk, as the templates name it; needed when there are several",
      "  --shrink       allow a size below the current one (data past it is lost)",
    ].join("\n"),
    complete: "<vm> resize",
    run: cmdDisk,
  },
  snapshot: {
    args: "<vm> list|create|apply|delete [<name>]",
    summary: "internal snapshots of a stopped VM's qcow2 disks",
    help: [
      "each operation works on every disk of the VM (qemu-img snapshot): create adds the",
      "named snapshot to all, apply takes all back to it, delete removes it; list (also",
      "while the VM runs) shows each snapshot with its date and disks. apply is refused while",
      "linked clones use the disks (vm clone --linked)",
    ].join("\n"),
    run: cmdSnapshot,
  },
  daemon: {
    args: "",
    summary: "run vmd: supervise the VMs (runsvdir); TERM stops them all gracefully",
    help: [
      "runs runsvdir on VMDIR in the foreground (one vm daemon per VMDIR). On TERM, INT or",
      "HUP it stops every VM in parallel, each within its wait, and exits 0 once all are",
      "down (111 when some are still up after the largest wait + 10 s). Left-overs of a",
      "vm daemon killed with SIGKILL (its runsvdir, or runsv processes) are adopted: their",
      "VMs keep running, never twice. Messages go to stderr. Install it as a service with",
      '"vm service install runit|systemd".',
    ].join("\n"),
    run: cmdDaemon,
  },
  service: {
    args: "install runit|systemd",
    summary: "install and enable vmd as a runit user service or systemd user unit",
    help: [
      "runit:   creates ${SVDIR:-~/service}/vmd (run execs vm daemon) for your user's runsvdir",
      "systemd: writes ${XDG_CONFIG_HOME:-~/.config}/systemd/user/vmd.service, then runs",
      "         systemctl --user daemon-reload and enable (or says how, when it cannot)",
      'A file there that vm did not write is never replaced. Needs ".default" (./install.sh).',
    ].join("\n"),
    run: cmdService,
  },
  help: { args: "[<command>]", summary: "display this help", run: cmdHelp },
  __run: { args: "<dir>", summary: "runit run: become QEMU", hidden: true, run: cmdRun },
  __stop: { args: "<dir>", summary: "runit control/t: graceful stop", hidden: true, run: cmdStop },
  __finish: {
    args: "<dir> <code> <signal>",
    summary: "runit finish",
    hidden: true,
    run: cmdFinish,
  },
  __complete: {
    args: "templates",
    summary: "names for the completion scripts",
    hidden: true,
    run: cmdComplete,
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
  running = name;
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
