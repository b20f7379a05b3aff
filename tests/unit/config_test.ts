/**
 * Unit tests of lib/config.ts: parsing the config file (never running it),
 * choosing which file applies, and the settings built from file, environment
 * and defaults.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  chooseConfigFile,
  configCandidates,
  DEFAULTS,
  type Env,
  loadConfig,
  parseConfig,
  settingsFrom,
  SYSTEM_CONF,
} from "../../lib/vm/config.ts";
import { ParseError, UsageError } from "../../lib/errors.ts";
import { parseFails } from "../support/fails.ts";
import { withTempDir } from "../support/temp_dir.ts";

function parse(text: string, env: Env = {}): Env {
  return parseConfig(text, "conf", env);
}

function configFails(text: string, line: number, env: Env = {}): string {
  return parseFails(() => parse(text, env), "conf", line);
}

// ---------------------------------------------------------------------------
// parseConfig: what is accepted

Deno.test("parseConfig: KEY=value lines give the assignments", () => {
  assert.deepEqual(parse("VMDIR=/srv/vms\nVMCONF_DEFAULT_DRIVE=60G\n"), {
    VMDIR: "/srv/vms",
    VMCONF_DEFAULT_DRIVE: "60G",
  });
});

Deno.test("parseConfig: empty text, blank lines and comments give nothing", () => {
  assert.deepEqual(parse(""), {});
  assert.deepEqual(parse("\n\n  \t\n# comment\n   # indented comment\n"), {});
});

Deno.test("parseConfig: comments after a value and a # inside a value", () => {
  assert.deepEqual(parse("A=1 # the first\nB=x#y\nC='#z' #c\n"), { A: "1", B: "x#y", C: "#z" });
});

Deno.test("parseConfig: an empty value is an empty string", () => {
  assert.deepEqual(parse("A=\nB=''\nC=\"\""), { A: "", B: "", C: "" });
});

Deno.test("parseConfig: optional export, with one or more assignments", () => {
  assert.deepEqual(parse("export A=1\nexport B=2 C=3\n"), { A: "1", B: "2", C: "3" });
});

Deno.test("parseConfig: export NAME alone is accepted and assigns nothing", () => {
  assert.deepEqual(parse("export VMDIR\nexport A B=2"), { B: "2" });
});

Deno.test("parseConfig: single quotes are literal", () => {
  assert.deepEqual(parse(`A='$HOME "x" \\ $(ls) \`ls\`'`, { HOME: "/h" }), {
    A: `$HOME "x" \\ $(ls) \`ls\``,
  });
});

Deno.test("parseConfig: double quotes keep spaces, expand and honour escapes", () => {
  assert.deepEqual(
    parse(`T="core-c2t2 cpu-host  kvm"\nD="$HOME/vms \\"x\\" \\$y \\\\"`, { HOME: "/h" }),
    { T: "core-c2t2 cpu-host  kvm", D: `/h/vms "x" $y \\` },
  );
});

Deno.test("parseConfig: a backslash outside quotes escapes the next character", () => {
  assert.deepEqual(parse(`A=a\\ b\\$c\\'`), { A: "a b$c'" });
});

Deno.test("parseConfig: a value may continue over lines", () => {
  assert.deepEqual(parse("A='x\ny'\nB=\"1\\\n2\"\nC=3\\\n4"), { A: "x\ny", B: "12", C: "34" });
});

Deno.test("parseConfig: $VAR and ${VAR} expand from the environment", () => {
  assert.deepEqual(parse("VMDIR=$HOME/vms\nX=${HOME}x", { HOME: "/home/u" }), {
    VMDIR: "/home/u/vms",
    X: "/home/ux",
  });
});

Deno.test("parseConfig: earlier assignments in the file are visible to later lines", () => {
  assert.deepEqual(parse("BASE=/srv\nVMDIR=$BASE/vms\nBASE=/other\nY=${BASE}", { BASE: "/env" }), {
    BASE: "/other",
    VMDIR: "/srv/vms",
    Y: "/other",
  });
});

Deno.test("parseConfig: a variable set by neither the file nor the environment is empty", () => {
  assert.deepEqual(parse("A=x${NOPE}y$NOPE"), { A: "xy" });
});

Deno.test("parseConfig: assigned values are not field-split", () => {
  assert.deepEqual(parse("A=$V\nB=${V}", { V: "a  b\tc" }), { A: "a  b\tc", B: "a  b\tc" });
});

Deno.test("parseConfig: ~ at the start of a value is HOME", () => {
  assert.deepEqual(parse("VMDIR=~/vms\nX=a~", { HOME: "/home/u" }), {
    VMDIR: "/home/u/vms",
    X: "a~",
  });
});

Deno.test("parseConfig: names of Object.prototype members expand to nothing", () => {
  assert.deepEqual(parse("A=x$constructor${toString}$__proto__${hasOwnProperty}y"), { A: "xy" });
});

Deno.test("parseConfig: the environment given is not changed", () => {
  const env: Env = { A: "env" };
  assert.deepEqual(parse("A=file\nB=$A", env), { A: "file", B: "file" });
  assert.deepEqual(env, { A: "env" });
});

Deno.test("parseConfig: CRLF line ends are accepted", () => {
  assert.deepEqual(parse("A=1\r\nB=2\r\n"), { A: "1", B: "2" });
});

Deno.test("parseConfig: the shipped example.conf parses", () => {
  const text = Deno.readTextFileSync(new URL("../../example.conf", import.meta.url));
  assert.deepEqual(parseConfig(text, "example.conf", { HOME: "/h" }), {
    VMCONF_DEFAULT_TEMPLATES:
      "core-c2t2 cpu-host drive-virtio kvm mem-high net-user-virtio nographic",
    VMCONF_DEFAULT_DRIVE: "60G",
  });
});

// ---------------------------------------------------------------------------
// parseConfig: what is refused, with its line

/** A refused config text, the line its error names, and the environment to parse it with. */
type Refusal = [text: string, line: number, env?: Env];

/**
 * Tests of what parseConfig refuses: every case fails at its line; the first
 * case's message is the one given (or matches it).
 */
const REFUSALS: [name: string, message: string | RegExp | undefined, cases: Refusal[]][] = [
  [
    "parseConfig: command substitution $(…) is refused with its line",
    `conf:3: Command substitution "$(…)" is not allowed; write the value itself`,
    [["A=1\n# c\nB=$(hostname)\n", 3], ['A=1\nB="x $(id -u)"', 2]],
  ],
  [
    "parseConfig: backticks are refused with their line",
    "conf:3: Command substitution (backquote) is not allowed; write the value itself",
    [["A=1\nB=2\nC=`hostname`", 3], ['A="\n\n`x`"', 3]],
  ],
  [
    "parseConfig: arithmetic $((…)) is refused",
    /^conf:1: Arithmetic expansion/,
    [["A=$((1+2))", 1]],
  ],
  [
    "parseConfig: a line that is not an assignment is refused",
    `conf:2: "echo" is not an assignment; only KEY=value lines are allowed (the file is not run)`,
    [
      ["A=1\necho hello\n", 2],
      ["A=1\n\nrm", 3],
      ["1A=x", 1],
      ["A+=x", 1],
      ["A-B=x", 1],
      ["'A'=x", 1],
      [". /etc/other.conf", 1],
      ["export", 1],
      ["export -p", 1],
      ["readonly A=1", 1],
      ["$CMD", 1, { CMD: "A=1" }],
    ],
  ],
  [
    "parseConfig: an assignment followed by another word is refused",
    "conf:2: More than one word on a line; quote values that contain spaces",
    [["A=1\nVMCONF_DEFAULT_TEMPLATES=mem kvm\n", 2], ["A=1 cmd", 1]],
  ],
  [
    "parseConfig: if, functions, ; | & and redirections are refused",
    undefined,
    [
      ["A=1\nif [ -x /bin/sh ]; then A=2; fi", 2],
      ["if true\nthen\nA=1\nfi", 1],
      ["A=1\nf() { A=2; }", 2],
      ["function f {\nA=1\n}", 1],
      ["A=1; B=2", 1],
      ["A=1 | B=2", 1],
      ["A=1 && B=2", 1],
      ["A=1 &", 1],
      ["A=1 >/tmp/x", 1],
      ["A=1 </tmp/x", 1],
      ["(A=1)", 1],
      ["while true\ndo :\ndone", 1],
      ["case x in\nx) A=1;;\nesac", 1],
    ],
  ],
  [
    "parseConfig: unsupported expansions are refused",
    undefined,
    [
      ["A=${B:-x}", 1],
      ["A=1\nB=$1", 2],
      ["A=$$", 1],
      ["A=${B", 1],
    ],
  ],
  [
    "parseConfig: unterminated quotes are refused at the line they start",
    "conf:2: Unterminated single quote; add the closing '",
    [["A=1\nB='x\nC=2\n", 2], ['A=1\nB=2\nC="x\n', 3]],
  ],
];

for (const [name, message, cases] of REFUSALS) {
  Deno.test(name, () => {
    const messages = cases.map(([text, line, env]) => configFails(text, line, env));
    if (typeof message === "string") assert.equal(messages[0], message);
    else if (message !== undefined) assert.match(messages[0] ?? "", message);
  });
}

Deno.test("parseConfig: the error names the file given", () => {
  parseFails(() => parseConfig("X=$(y)", "/etc/runit-vm/conf", {}), "/etc/runit-vm/conf", 1);
});

Deno.test("parseConfig: nothing after an error is used (the error is thrown)", () => {
  assert.throws(() => parse("A=1\nB=`x`\nC=3"), ParseError);
});

// ---------------------------------------------------------------------------
// chooseConfigFile

const HOME_CONF = "/home/u/.config/runit-vm/conf";
const XDG_CONF = "/xdg/runit-vm/conf";

function existing(...paths: string[]): (path: string) => boolean {
  const set = new Set(paths);
  return (p) => set.has(p);
}

Deno.test("chooseConfigFile: VMCONF wins over every other file, even a missing one", () => {
  const env = { VMCONF: "/my/conf", HOME: "/home/u", XDG_CONFIG_HOME: "/xdg" };
  const all = existing(SYSTEM_CONF, HOME_CONF, XDG_CONF);
  assert.equal(chooseConfigFile(env, all), "/my/conf");
  assert.equal(chooseConfigFile(env, existing()), "/my/conf");
});

Deno.test("chooseConfigFile: an empty VMCONF counts as unset", () => {
  assert.equal(chooseConfigFile({ VMCONF: "" }, existing(SYSTEM_CONF)), SYSTEM_CONF);
});

Deno.test("chooseConfigFile: without VMCONF the system file is /etc/runit-vm/conf", () => {
  assert.equal(SYSTEM_CONF, "/etc/runit-vm/conf");
  assert.equal(chooseConfigFile({ HOME: "/home/u" }, existing(SYSTEM_CONF)), SYSTEM_CONF);
  assert.equal(chooseConfigFile({ HOME: "/root" }, existing(SYSTEM_CONF)), SYSTEM_CONF);
});

Deno.test("chooseConfigFile: no file at all gives undefined", () => {
  const env = { HOME: "/home/u", XDG_CONFIG_HOME: "/xdg" };
  assert.equal(chooseConfigFile(env, existing()), undefined);
  assert.equal(chooseConfigFile({}, existing()), undefined);
});

Deno.test("chooseConfigFile: the first found of XDG, ~/.config, /etc is read, for every user", () => {
  const env = { HOME: "/home/u", XDG_CONFIG_HOME: "/xdg" };
  assert.equal(chooseConfigFile(env, existing(SYSTEM_CONF, HOME_CONF, XDG_CONF)), XDG_CONF);
  assert.equal(chooseConfigFile(env, existing(SYSTEM_CONF, XDG_CONF)), XDG_CONF);
  assert.equal(chooseConfigFile(env, existing(SYSTEM_CONF, HOME_CONF)), HOME_CONF);
  assert.equal(chooseConfigFile(env, existing(HOME_CONF)), HOME_CONF);
  // Root too: its XDG_CONFIG_HOME and ~/.config are not ignored.
  const root = { HOME: "/root", XDG_CONFIG_HOME: "/xdg" };
  assert.equal(chooseConfigFile(root, existing(SYSTEM_CONF, XDG_CONF)), XDG_CONF);
  assert.equal(
    chooseConfigFile(root, existing(SYSTEM_CONF, "/root/.config/runit-vm/conf")),
    "/root/.config/runit-vm/conf",
  );
});

Deno.test("chooseConfigFile: XDG_CONFIG_HOME is used even when HOME is unset", () => {
  assert.equal(
    chooseConfigFile({ XDG_CONFIG_HOME: "/xdg" }, existing(SYSTEM_CONF, XDG_CONF)),
    XDG_CONF,
  );
});

Deno.test("configCandidates: in order, only the set ones, each once", () => {
  assert.deepEqual(configCandidates({ HOME: "/home/u", XDG_CONFIG_HOME: "/xdg" }), [
    XDG_CONF,
    HOME_CONF,
    SYSTEM_CONF,
  ]);
  assert.deepEqual(configCandidates({ HOME: "/home/u" }), [HOME_CONF, SYSTEM_CONF]);
  assert.deepEqual(configCandidates({}), [SYSTEM_CONF]);
  assert.deepEqual(
    configCandidates({ HOME: "/home/u", XDG_CONFIG_HOME: "/home/u/.config" }),
    [HOME_CONF, SYSTEM_CONF],
  );
});

Deno.test("chooseConfigFile: asks about the candidates in order and stops at the first found", () => {
  const asked: string[] = [];
  const env = { HOME: "/home/u", XDG_CONFIG_HOME: "/xdg" };
  chooseConfigFile(env, (p) => {
    asked.push(p);
    return false;
  });
  assert.deepEqual(asked, [XDG_CONF, HOME_CONF, SYSTEM_CONF]);
  asked.length = 0;
  chooseConfigFile(env, (p) => {
    asked.push(p);
    return p === HOME_CONF;
  });
  assert.deepEqual(asked, [XDG_CONF, HOME_CONF]);
});

// ---------------------------------------------------------------------------
// settingsFrom

Deno.test("settingsFrom: defaults when nothing is set", () => {
  assert.deepEqual(DEFAULTS, {
    VMCONF_DEFAULT_TEMPLATES: "display-none drive kvm mem vnc",
    VMCONF_DEFAULT_DRIVE: "20G",
    VMCONF_DEFAULT_WAIT: "10",
  });
  assert.deepEqual(settingsFrom({ HOME: "/home/u" }), {
    vmdir: "/home/u/.local/share/runit-vm",
    defaultTemplates: ["display-none", "drive", "kvm", "mem", "vnc"],
    defaultDrive: "20G",
    defaultWait: "10",
    env: { HOME: "/home/u", VMDIR: "/home/u/.local/share/runit-vm" },
  });
});

Deno.test("settingsFrom: every key set", () => {
  const env = {
    HOME: "/home/u",
    VMDIR: "/srv/vms",
    VMCONF_DEFAULT_TEMPLATES: "  kvm\tmem-4g \n drive-virtio ",
    VMCONF_DEFAULT_DRIVE: "60G",
    VMCONF_DEFAULT_WAIT: "30",
    VMCONF_QEMU: "/opt/qemu/bin/qemu-system-aarch64",
    VMCONF_QEMU_ARCH: "aarch64",
  };
  assert.deepEqual(settingsFrom(env, "/etc/runit-vm/conf"), {
    vmdir: "/srv/vms",
    defaultTemplates: ["kvm", "mem-4g", "drive-virtio"],
    defaultDrive: "60G",
    defaultWait: "30",
    qemu: "/opt/qemu/bin/qemu-system-aarch64",
    qemuArch: "aarch64",
    file: "/etc/runit-vm/conf",
    env,
  });
});

Deno.test("settingsFrom: empty values count as unset", () => {
  const cfg = settingsFrom({
    HOME: "/home/u",
    VMDIR: "",
    VMCONF_DEFAULT_DRIVE: "",
    VMCONF_DEFAULT_WAIT: "",
    VMCONF_DEFAULT_TEMPLATES: "",
    VMCONF_QEMU: "",
  });
  assert.equal(cfg.vmdir, "/home/u/.local/share/runit-vm");
  assert.equal(cfg.defaultDrive, "20G");
  assert.equal(cfg.defaultWait, "10");
  assert.deepEqual(cfg.defaultTemplates, ["display-none", "drive", "kvm", "mem", "vnc"]);
  assert.equal(cfg.qemu, undefined);
  assert.equal("qemu" in cfg, false);
  assert.equal("file" in cfg, false);
});

Deno.test("settingsFrom: env gets VMDIR, so hooks and templates see it", () => {
  assert.equal(settingsFrom({ HOME: "/h", X: "1" }).env.VMDIR, "/h/.local/share/runit-vm");
  assert.equal(settingsFrom({ VMDIR: "/v", X: "1" }).env.X, "1");
});

Deno.test("settingsFrom: neither VMDIR nor HOME is a UsageError (exit 100)", () => {
  assert.throws(
    () => settingsFrom({}),
    (e: unknown) => e instanceof UsageError && e.exitCode === 100 && /VMDIR/.test(e.message),
  );
  assert.equal(settingsFrom({ VMDIR: "/v" }).vmdir, "/v");
});

// ---------------------------------------------------------------------------
// loadConfig (reads a real file through VMCONF)

Deno.test("loadConfig: the file's values override the environment; unset keys fall back", async () => {
  await withTempDir((dir) => {
    const file = join(dir, "conf");
    Deno.writeTextFileSync(
      file,
      "# test\nexport VMDIR=$HOME/vms\nVMCONF_DEFAULT_DRIVE='8G'\nVMCONF_DEFAULT_TEMPLATES=\"kvm mem\"\n",
    );
    const cfg = loadConfig({
      VMCONF: file,
      HOME: dir,
      VMDIR: "/from/env",
      VMCONF_DEFAULT_DRIVE: "99G",
      VMCONF_DEFAULT_WAIT: "42",
      OTHER: "kept",
    });
    assert.equal(cfg.file, file);
    assert.equal(cfg.vmdir, join(dir, "vms"));
    assert.equal(cfg.defaultDrive, "8G");
    assert.deepEqual(cfg.defaultTemplates, ["kvm", "mem"]);
    assert.equal(cfg.defaultWait, "42");
    assert.equal(cfg.env.VMDIR, join(dir, "vms"));
    assert.equal(cfg.env.VMCONF_DEFAULT_DRIVE, "8G");
    assert.equal(cfg.env.OTHER, "kept");
  });
});

Deno.test("loadConfig: an empty file leaves environment and defaults", async () => {
  await withTempDir((dir) => {
    const file = join(dir, "conf");
    Deno.writeTextFileSync(file, "");
    const cfg = loadConfig({ VMCONF: file, HOME: dir });
    assert.equal(cfg.file, file);
    assert.equal(cfg.vmdir, join(dir, ".local/share/runit-vm"));
    assert.equal(cfg.defaultDrive, "20G");
    assert.equal(cfg.defaultWait, "10");
  });
});

Deno.test("loadConfig: a bad file is a ParseError naming the file and line", async () => {
  await withTempDir((dir) => {
    const file = join(dir, "conf");
    Deno.writeTextFileSync(file, "A=1\nB=2\nC=$(touch " + join(dir, "pwned") + ")\n");
    parseFails(() => loadConfig({ VMCONF: file, HOME: dir }), file, 3);
    // Never executed.
    assert.throws(() => Deno.statSync(join(dir, "pwned")), Deno.errors.NotFound);
  });
});

Deno.test("loadConfig: VMCONF naming a missing file is a UsageError (exit 100)", async () => {
  await withTempDir((dir) => {
    const file = join(dir, "missing");
    assert.throws(
      () => loadConfig({ VMCONF: file, HOME: dir }),
      (e: unknown) =>
        e instanceof UsageError && !(e instanceof ParseError) && e.exitCode === 100 &&
        e.message.includes(file),
    );
  });
});
