// `vm completions`: the generated scripts run by the real shells: bash -n,
// zsh -n, fish -n accept them; bash, zsh and fish complete commands, VM names
// (through `vm list -q`) and template names (through `vm __complete`). What
// each command completes to is unit-tested in tests/unit/command_table_test.ts.

import assert from "node:assert/strict";
import { SHELLS } from "../../cli/core/completions.ts";
import { run, TestEnv } from "../support/harness.ts";

/** A TestEnv with VMs alpha and beta-2; runs `fn`, then cleans up. */
async function withVms(fn: (t: TestEnv) => Promise<void>): Promise<void> {
  const t = TestEnv.create();
  try {
    for (const name of ["alpha", "beta-2"]) {
      const r = await t.vm(["make", name, "--disk", "1M", "--wait", "1", "--no-log", "--yes"]);
      assert.equal(r.code, 0, r.stderr);
    }
    await fn(t);
  } finally {
    await t.close();
  }
}

/** The visible commands, as `vm help` lists them. */
async function helpCommands(t: TestEnv): Promise<string[]> {
  const help = (await t.vm(["help"])).stdout;
  const names = [...help.matchAll(/^ {2}([a-z][a-z-]*)(?= )/gm)].map((m) => m[1] ?? "");
  assert.ok(names.includes("console") && names.includes("list"), help);
  return names;
}

Deno.test("vm completions: bash, zsh and fish accept the scripts, which hold every command", async () => {
  await withVms(async (t) => {
    const names = await helpCommands(t);
    for (const shell of SHELLS) {
      const r = await t.vm(["completions", shell]);
      assert.equal(r.code, 0, r.stderr);
      for (const n of names) assert.match(r.stdout, new RegExp(`\\b${n}\\b`), `${shell}: ${n}`);
      assert.ok(!r.stdout.includes("__run") && !r.stdout.includes("__setup"), "no hidden command");
      const file = `${t.root}/completion.${shell}`;
      Deno.writeTextFileSync(file, r.stdout);
      const check = await run(shell, ["-n", file]);
      assert.equal(check.code, 0, `${shell} -n: ${check.stderr}`);
    }
    const bad = await t.vm(["completions", "tcsh"]);
    assert.equal(bad.code, 100);
    assert.match(bad.stderr, /^vm: fatal: No completions for "tcsh"/);
    const templates = await t.vm(["__complete", "templates"]);
    assert.equal(templates.code, 0, templates.stderr);
    assert.ok(templates.stdout.split("\n").includes("serial-console"), templates.stdout);
  });
});

/** Runs the bash completion for the words of `line` (the cursor at its end); COMPREPLY. */
async function bashComplete(t: TestEnv, script: string, line: string): Promise<string[]> {
  const words = line.split(" ");
  const program = [
    `source ${script}`,
    `COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")})`,
    `COMP_CWORD=${words.length - 1}`,
    `_vm vm '${words.at(-1)}' '${words.at(-2)}'`,
    `printf '%s\\n' "\${COMPREPLY[@]}"`,
  ].join("\n");
  const r = await run("bash", ["-c", program], t.env);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split("\n").filter((w) => w !== "");
}

Deno.test("bash completion: commands, VM names, sv commands, options, templates", async () => {
  await withVms(async (t) => {
    const script = `${t.root}/vm.bash`;
    Deno.writeTextFileSync(script, (await t.vm(["completions", "bash"])).stdout);
    assert.deepEqual(await bashComplete(t, script, "vm start "), ["alpha", "beta-2"]);
    assert.deepEqual(await bashComplete(t, script, "vm start alpha b"), ["beta-2"]);
    assert.deepEqual(await bashComplete(t, script, "vm console "), ["alpha", "beta-2"]);
    assert.deepEqual(await bashComplete(t, script, "vm console alpha "), []);
    assert.deepEqual(await bashComplete(t, script, "vm log -n 5 a"), ["alpha"]);
    assert.deepEqual(await bashComplete(t, script, "vm log -n "), []);
    assert.deepEqual(await bashComplete(t, script, "vm co"), ["console", "completions", "config"]);
    assert.deepEqual(await bashComplete(t, script, "vm sv stat"), ["status"]);
    assert.deepEqual(await bashComplete(t, script, "vm sv up "), ["alpha", "beta-2"]);
    assert.deepEqual(await bashComplete(t, script, "vm log --"), ["--follow", "--lines", "--help"]);
    assert.deepEqual(await bashComplete(t, script, "vm make x --templates serial"), [
      "serial-console",
    ]);
    assert.deepEqual(await bashComplete(t, script, "vm completions z"), ["zsh"]);
    assert.deepEqual(await bashComplete(t, script, "vm service "), ["install"]);
    assert.deepEqual(await bashComplete(t, script, "vm service install "), ["runit", "systemd"]);
    assert.deepEqual(await bashComplete(t, script, "vm snapshot alpha "), [
      "list",
      "create",
      "apply",
      "delete",
    ]);
    assert.deepEqual(await bashComplete(t, script, "vm help mon"), ["monitor"]);
    assert.deepEqual(await bashComplete(t, script, "vm make "), [], "a new name: no VM names");
    const all = await bashComplete(t, script, "vm ");
    assert.deepEqual(all, await helpCommands(t));
  });
});

Deno.test("fish and zsh completion: VM names and commands", async () => {
  await withVms(async (t) => {
    const fish = `${t.root}/vm.fish`;
    Deno.writeTextFileSync(fish, (await t.vm(["completions", "fish"])).stdout);
    const f = await run("fish", [
      "--no-config",
      "-c",
      `source ${fish}; complete -C 'vm console '; echo ==; complete -C 'vm mon'; echo ==; ` +
      `complete -C 'vm make x --templates serial'`,
    ], t.env);
    assert.equal(f.code, 0, f.stderr);
    const [vms, cmd, tpl] = f.stdout.split("==\n");
    assert.equal(vms, "alpha\nbeta-2\n");
    assert.match(cmd ?? "", /^monitor\ttalk to QEMU's human monitor/);
    assert.equal(tpl, "serial-console\n");

    // zsh: the completion function with compadd/_describe standing in for the completion system.
    const zsh = `${t.root}/_vm`;
    Deno.writeTextFileSync(zsh, (await t.vm(["completions", "zsh"])).stdout);
    const z = await run("zsh", [
      "-fc",
      `path=(${t.root}/bin $path)
compdef() { print -r -- "compdef $*"; }
compadd() { [[ $1 == -a ]] && print -rl -- \${(P)2}; }
_describe() { print -rl -- \${(P)4}; }
source ${zsh}
words=(vm start ''); CURRENT=3; _vm; print -- --
words=(vm help mo); CURRENT=3; _vm; print -- --
words=(vm mo); CURRENT=2; _vm | grep '^monitor:'`,
    ], t.env);
    assert.equal(z.code, 0, z.stderr);
    const [first, helpWords, described] = z.stdout.split("--\n");
    assert.equal(
      first,
      "compdef _vm vm\nalpha\nbeta-2\n",
      "sourced: registers; <vm> gets VM names",
    );
    // compadd filters by the prefix itself: every command is offered after help.
    assert.deepEqual((helpWords ?? "").trimEnd().split("\n"), await helpCommands(t));
    assert.match(described ?? "", /^monitor:talk to QEMU's human monitor/);
  });
});
