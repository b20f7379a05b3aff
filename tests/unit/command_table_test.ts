// The command table (cli/table.ts) is the one place a command's options are
// declared: this walks it and proves, for every command, that each declared
// option is accepted by the parser, shown in its help and offered by the
// completion scripts; that nothing undeclared is accepted; and that the
// command's code reads exactly the options its row declares (an option added
// to the code or to the row alone fails here). Also the parser's messages and
// the completion encoding of each argument kind.

import assert from "node:assert/strict";
import type { CommandSpec } from "../../cli/core/command.ts";
import { completionScript, encode, SHELLS } from "../../cli/core/completions.ts";
import { commandHelp, helpText } from "../../cli/core/help.ts";
import { optionLabel, parseInvocation, usage, wantsHelp } from "../../cli/core/parse.ts";
import { COMMANDS } from "../../cli/table.ts";
import { UsageError } from "../../lib/errors.ts";

/** Every runnable row: commands and subcommands, with the name typed for each. */
function rows(): [string, CommandSpec][] {
  const out: [string, CommandSpec][] = [];
  for (const c of COMMANDS) {
    if (c.subcommands === undefined) out.push([c.name, c]);
    else for (const s of c.subcommands) out.push([`${c.name} ${s.name}`, s]);
  }
  return out;
}

/** Arguments that satisfy the row's count. */
function someArgs(spec: CommandSpec): string[] {
  return spec.args.filter((a) => !a.optional).map(() => "x");
}

/** The module file a row runs, relative to cli/, checked to export the row's entry. */
async function moduleOf(spec: CommandSpec): Promise<string> {
  assert.ok(spec.module !== undefined, `${spec.name}: module`);
  const mod = await import(`../../cli/${spec.module}`);
  const command = spec.entry === undefined ? mod : mod[spec.entry];
  assert.equal(typeof command?.run, "function", `${spec.name}: cli/${spec.module}`);
  return spec.module;
}

/** The option names a cli module reads: opt*(inv, "x") and exclusive(inv, "a", "b"). */
function optionsRead(file: string): Set<string> {
  const text = Deno.readTextFileSync(new URL(`../../cli/${file}`, import.meta.url));
  const names = new Set<string>();
  for (const m of text.matchAll(/opt(?:String|Flag|List)\(inv, "([a-z0-9-]+)"\)/g)) {
    names.add(m[1] ?? "");
  }
  for (const m of text.matchAll(/exclusive\(inv, "([a-z0-9-]+)", "([a-z0-9-]+)"\)/g)) {
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

Deno.test("each command's code reads exactly the options its row declares", async () => {
  const byFile = new Map<string, Set<string>>();
  for (const [, spec] of rows()) {
    const file = await moduleOf(spec);
    const declared = byFile.get(file) ?? new Set<string>();
    for (const o of spec.options ?? []) declared.add(o.name);
    byFile.set(file, declared);
  }
  for (const [file, declared] of byFile) {
    const text = Deno.readTextFileSync(new URL(`../../cli/${file}`, import.meta.url));
    assert.ok(
      !/inv\.opts\b/.test(text),
      `cli/${file} reads inv.opts: use optString/optFlag/optList`,
    );
    const read = optionsRead(file);
    for (const name of read) {
      assert.ok(declared.has(name), `cli/${file} reads --${name}, which no row of it declares`);
    }
    // An option may be read by a helper of another cli module this one imports.
    const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/") + 1) : "";
    const helpers = [...text.matchAll(/from "\.\/([a-z_]+\.ts)"/g)].map((m) => dir + (m[1] ?? ""));
    const readHere = new Set([...read, ...helpers.flatMap((h) => [...optionsRead(h)])]);
    for (const name of declared) {
      assert.ok(
        readHere.has(name),
        `a row of cli/${file} declares --${name}, which it never reads`,
      );
    }
  }
});

Deno.test("parser: values, flags, --, short forms; one clear line per mistake", () => {
  const log = COMMANDS.find((c) => c.name === "log");
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
  const boot = COMMANDS.find((c) => c.name === "boot");
  assert.ok(boot);
  assert.deepEqual(parseInvocation(boot, ["web", "-m", "1G", "--help"]).args, [
    "web",
    "-m",
    "1G",
    "--help",
  ]);
  assert.ok(!wantsHelp(boot, ["web", "--help"]) && wantsHelp(boot, ["--help"]));
  // runit's finish gets QEMU's exit code, -1 after a signal: a value, not an option.
  const finish = COMMANDS.find((c) => c.name === "__finish");
  assert.ok(finish);
  assert.deepEqual(parseInvocation(finish, ["/vms/a", "-1", "9"]).args, ["/vms/a", "-1", "9"]);
});

Deno.test("completion kinds: placeholders, words, repetition, option values", () => {
  const by = (n: string) => {
    const c = COMMANDS.find((x) => x.name === n);
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
  const text = helpText();
  for (const c of COMMANDS) {
    const listed = new RegExp(`^ {2}${c.name}( |$)`, "m").test(text);
    assert.equal(listed, !c.hidden, c.name);
  }
  assert.match(text, /^ {2}make <vm> \[<iso>\] /m);
});
