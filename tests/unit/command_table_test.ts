// The command rows (each beside its run in cli/commands/, listed by
// cli/core/command_list.ts) are the one place a command's options are
// declared: this walks them and proves, for every command, that each
// declared option is accepted by the parser, shown in its help and offered by
// the completion scripts; that nothing undeclared is accepted; that the
// command list names every command its files define; and that each command's
// code reads exactly the options its row declares (an option added to the
// code or to the row alone fails here). Also the parser's messages and the
// completion encoding of each argument kind.

import assert from "node:assert/strict";
import type { Command, CommandSpec } from "../../cli/core/command.ts";
import { allCommands, commandFile, commandsIn } from "../../cli/core/command_list.ts";
import { completionScript, encode, SHELLS } from "../../cli/core/completions.ts";
import { commandHelp, helpText } from "../../cli/core/help.ts";
import { optionLabel, parseInvocation, usage, wantsHelp } from "../../cli/core/parse.ts";
import { UsageError } from "../../lib/errors.ts";

const COMMANDS = await allCommands();
const ROWS = COMMANDS.map((c) => c.row);

/** Every runnable command: commands and subcommands, with the name typed for each and its file. */
function commands(): [string, Command, string][] {
  const out: [string, Command, string][] = [];
  for (const c of COMMANDS) {
    const file = commandFile(c.row.name) ?? "";
    if (c.subcommands === undefined) out.push([c.row.name, c, file]);
    else for (const s of c.subcommands) out.push([`${c.row.name} ${s.row.name}`, s, file]);
  }
  return out;
}

/** Every runnable row, with the name typed for each. */
function rows(): [string, CommandSpec][] {
  return commands().map(([name, c]) => [name, c.row]);
}

/** Arguments that satisfy the row's count. */
function someArgs(spec: CommandSpec): string[] {
  return spec.args.filter((a) => !a.optional).map(() => "x");
}

/** The text of `file` of cli/commands/. */
function source(file: string): string {
  return Deno.readTextFileSync(new URL(`../../cli/commands/${file}`, import.meta.url));
}

/** The top-level function `name` of `text` (to the next `}` at column 0), or undefined. */
function functionText(text: string, name: string): string | undefined {
  const m = new RegExp(`^(?:export )?(?:async )?function\\*? ${name}\\b`, "m").exec(text);
  if (m === null) return undefined;
  const end = text.indexOf("\n}\n", m.index);
  return text.slice(m.index, end < 0 ? undefined : end + 2);
}

/** What `text` imports from other files of cli/commands/: local name → [file, exported name]. */
function commandImports(text: string): Map<string, [string, string]> {
  const out = new Map<string, [string, string]>();
  for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*"\.\/([a-z_]+\.ts)"/g)) {
    for (const item of (m[1] ?? "").split(",")) {
      const [name = "", local = name] = item.replace(/^\s*type\s+/, "").trim().split(/\s+as\s+/);
      if (name !== "") out.set(local, [m[2] ?? "", name]);
    }
  }
  return out;
}

/**
 * The code that runs for a command of `file` whose run is `run`: its text,
 * and the text of every function of cli/commands/ it names, transitively;
 * each with the file it is in.
 */
function codeOf(file: string, run: unknown): [string, string][] {
  const parts: [string, string][] = [[file, String(run)]];
  const seen = new Set<string>();
  for (let i = 0; i < parts.length; i++) {
    const [at, code] = parts[i] ?? ["", ""];
    const text = source(at);
    for (const [id] of code.matchAll(/\b[A-Za-z_]\w*\b/g)) {
      const [where, name] = functionText(text, id) !== undefined
        ? [at, id]
        : commandImports(text).get(id) ?? ["", ""];
      const fn = where === "" ? undefined : functionText(source(where), name);
      if (fn === undefined || seen.has(`${where}:${name}`)) continue;
      seen.add(`${where}:${name}`);
      parts.push([where, fn]);
    }
  }
  return parts;
}

/** The option names `code` reads: opt*(inv, "x") and exclusive(inv, "a", "b"). */
function optionsRead(code: string): Set<string> {
  const names = new Set<string>();
  for (const m of code.matchAll(/opt(?:String|Flag|List)\(inv, "([a-z0-9-]+)"\)/g)) {
    names.add(m[1] ?? "");
  }
  for (const m of code.matchAll(/exclusive\(inv, "([a-z0-9-]+)", "([a-z0-9-]+)"\)/g)) {
    names.add(m[1] ?? "");
    names.add(m[2] ?? "");
  }
  return names;
}

Deno.test("every declared option is accepted, shown in help and completed; nothing else is accepted", () => {
  for (const [name, spec] of rows()) {
    const help = commandHelp(spec, name);
    const completion = encode(spec, name);
    for (const o of spec.options ?? []) {
      const word = `--${o.name}`;
      const argv = [...someArgs(spec), word, ...(o.value === undefined ? [] : ["v"])];
      if (spec.passThrough) continue; // boot: everything after the VM goes to QEMU
      const inv = parseInvocation(spec, argv, name);
      assert.deepEqual(
        inv.opts[o.name],
        o.value === undefined ? true : o.repeat ? ["v"] : "v",
        name,
      );
      if (o.short !== undefined) {
        const short = [...someArgs(spec), `-${o.short}`, ...(o.value === undefined ? [] : ["v"])];
        assert.ok(
          parseInvocation(spec, short, name).opts[o.name] !== undefined,
          `${name} -${o.short}`,
        );
        assert.ok(completion.opts.includes(`-${o.short}`), `${name}: -${o.short} completed`);
      }
      assert.ok(help.includes(optionLabel(o)), `${name}: ${word} in help`);
      assert.ok(completion.opts.includes(word), `${name}: ${word} completed`);
      if (o.value !== undefined) {
        assert.ok(completion.valopts.some((v) => v.startsWith(`${word}:`)), `${name}: value`);
      }
    }
    if (!spec.passThrough) {
      assert.throws(
        () => parseInvocation(spec, [...someArgs(spec), "--no-such-option"], name),
        new UsageError(`Unknown option "--no-such-option"; see "vm ${name} --help"`),
      );
    }
  }
});

Deno.test("the command list names every command its files define, each in its file", async () => {
  const files = [...Deno.readDirSync(new URL("../../cli/commands/", import.meta.url))]
    .map((e) => e.name).filter((n) => n.endsWith(".ts"));
  let defined = 0;
  for (const file of files) {
    for (const c of await commandsIn(file)) {
      assert.equal(commandFile(c.row.name), file, `${c.row.name}: cli/commands/${file}`);
      defined++;
    }
  }
  assert.equal(defined, COMMANDS.length);
  for (const [name, c] of commands()) assert.equal(typeof c.run, "function", name);
});

Deno.test("each command's code reads exactly the options its row declares", () => {
  for (const [name, command, file] of commands()) {
    const parts = codeOf(file, command.run);
    for (const [at, code] of parts) {
      assert.ok(
        at !== file || !/inv\.opts\b/.test(code),
        `vm ${name} (cli/commands/${file}) reads inv.opts: use optString/optFlag/optList`,
      );
    }
    const read = optionsRead(parts.map(([, code]) => code).join("\n"));
    const declared = new Set((command.row.options ?? []).map((o) => o.name));
    for (const o of read) {
      assert.ok(declared.has(o), `vm ${name} reads --${o}, which its row does not declare`);
    }
    for (const o of declared) {
      assert.ok(read.has(o), `the row of vm ${name} declares --${o}, which its code never reads`);
    }
  }
});

Deno.test("parser: values, flags, --, short forms; one clear line per mistake", () => {
  const log = ROWS.find((c) => c.name === "log");
  assert.ok(log);
  assert.deepEqual(parseInvocation(log, ["web", "-n", "5", "-f"]).opts, {
    lines: "5",
    follow: true,
  });
  assert.deepEqual(parseInvocation(log, ["web", "-n5"]).opts, { lines: "5" });
  assert.deepEqual(parseInvocation(log, ["--lines=-3", "web"]).opts, { lines: "-3" });
  assert.deepEqual(parseInvocation(log, ["--", "-web"]).args, ["-web"]);
  assert.throws(
    () => parseInvocation(log, ["web", "-n"]),
    new UsageError('"-n" needs a value; see "vm log --help"'),
  );
  assert.throws(
    () => parseInvocation(log, ["web", "--follow=yes"]),
    new UsageError('"--follow" takes no value; see "vm log --help"'),
  );
  assert.throws(
    () => parseInvocation(log, ["a", "b"]),
    new UsageError("Wrong arguments; usage: vm log <vm> [-f] [-n N]"),
  );
  assert.equal(usage(log), "usage: vm log <vm> [-f] [-n N]");
  assert.ok(wantsHelp(log, ["web", "-h"]));
  const boot = ROWS.find((c) => c.name === "boot");
  assert.ok(boot);
  assert.deepEqual(parseInvocation(boot, ["web", "-m", "1G", "--help"]).args, [
    "web",
    "-m",
    "1G",
    "--help",
  ]);
  assert.ok(!wantsHelp(boot, ["web", "--help"]) && wantsHelp(boot, ["--help"]));
  // runit's finish gets QEMU's exit code, -1 after a signal: a value, not an option.
  const finish = ROWS.find((c) => c.name === "__finish");
  assert.ok(finish);
  assert.deepEqual(parseInvocation(finish, ["/vms/a", "-1", "9"]).args, ["/vms/a", "-1", "9"]);
});

Deno.test("completion kinds: placeholders, words, repetition, option values", () => {
  const by = (n: string) => {
    const c = ROWS.find((x) => x.name === n);
    assert.ok(c, n);
    return encode(c);
  };
  assert.deepEqual(by("start").pos, ["vm..."]);
  assert.deepEqual(by("make").pos, ["-", "file"]);
  assert.deepEqual(by("autostart").pos, ["vm", "w:on,off"]);
  assert.deepEqual(by("completions").pos, ["w:bash,zsh,fish"]);
  assert.deepEqual(by("help").pos, ["command"]);
  assert.deepEqual(by("boot").pos, ["vm", "-..."]);
  assert.equal(by("sv").pos[1], "vm...");
  assert.ok(by("sv").pos[0]?.startsWith("w:status,up,down,"));
  assert.deepEqual(by("snapshot").pos, ["vm", "w:list,create,apply,delete", "snapshot"]);
  const make = by("make");
  assert.ok(make.valopts.includes("--templates:templates"));
  assert.ok(make.valopts.includes("--image:disk-image"));
  assert.deepEqual(by("ssh").pos, ["ssh-vm", "-..."]);
  assert.ok(make.valopts.includes("--disk:-"));
  for (const o of ["--log", "--no-log", "-y", "--yes", "--help"]) assert.ok(make.opts.includes(o));
  assert.deepEqual(by("log").valopts, ["--lines:-", "-n:-"]);
  assert.deepEqual(by("stop").opts, ["--timeout", "--force", "--help", "-h"]);
});

Deno.test("completionScript: every visible command, VM names from vm list -q, names from vm __complete", () => {
  const cmds: CommandSpec[] = [
    { name: "start", summary: "start VMs", args: [{ name: "<vm>", kind: "vm" }], options: [] },
    { name: "help", summary: "it's help", args: [], options: [] },
  ];
  for (const shell of SHELLS) {
    const s = completionScript(shell, cmds);
    for (const c of cmds) assert.match(s, new RegExp(`\\b${c.name}\\b`), `${shell}: ${c.name}`);
    assert.ok(s.includes("list -q"), shell);
    assert.ok(s.includes("__complete templates"), shell);
    assert.ok(s.includes("__complete snapshots"), shell);
  }
  assert.ok(completionScript("zsh", cmds).includes(`'help:it'\\''s help'`));
  assert.ok(completionScript("fish", cmds).includes(`'it\\'s help'`));
});

Deno.test("help: every visible command is listed with its arguments; hidden ones are not", () => {
  const text = helpText(ROWS);
  for (const c of ROWS) {
    const listed = new RegExp(`^ {2}${c.name}( |$)`, "m").test(text);
    assert.equal(listed, !c.hidden, c.name);
  }
  assert.match(text, /^ {2}make <vm> \[<iso>\] /m);
});
