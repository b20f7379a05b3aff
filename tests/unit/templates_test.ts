/**
 * Unit tests of lib/templates.ts: parsing template text into QEMU arguments,
 * the byte order templates are read in, reading a VM's templates, and the
 * choice of templates for a new VM (prefix replacement).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  appendOnce,
  chooseTemplates,
  parseTemplate,
  templateNames,
  templateOrder,
  templatePrefix,
} from "../../lib/vm/templates.ts";
import { inspectDir } from "../../lib/vm/inspect.ts";
import { parseFails, usageFails } from "../support/fails.ts";
import { withTempDir } from "../support/temp_dir.ts";
import type { Env } from "../../lib/vm/config.ts";
import { byteOrder } from "../../lib/text/byte_order.ts";

const ENV: Env = { HOME: "/home/u", VMDIR: "/srv/vms", OPTS: "-m  4G", EMPTY: "" };

function tpl(text: string, env: Env = ENV): string[] {
  return parseTemplate(text, "templates/t", env);
}

// ---------------------------------------------------------------------------
// parseTemplate

Deno.test("parseTemplate: words on several lines are one list of arguments", () => {
  assert.deepEqual(
    tpl("-audiodev pa,id=snd0\n-device intel-hda\n-device hda-output,audiodev=snd0\n"),
    [
      "-audiodev",
      "pa,id=snd0",
      "-device",
      "intel-hda",
      "-device",
      "hda-output,audiodev=snd0",
    ],
  );
});

Deno.test("parseTemplate: a double-quoted path with spaces stays one argument", () => {
  assert.deepEqual(tpl(`-drive file="/my vms/disk one.qcow2"`), [
    "-drive",
    "file=/my vms/disk one.qcow2",
  ]);
  assert.deepEqual(tpl(`-drive file='/my vms/disk one.qcow2',if=virtio`), [
    "-drive",
    "file=/my vms/disk one.qcow2,if=virtio",
  ]);
  assert.deepEqual(tpl(`-drive file=/my\\ vms/disk\\ one.qcow2`), [
    "-drive",
    "file=/my vms/disk one.qcow2",
  ]);
});

Deno.test("parseTemplate: comments are skipped", () => {
  assert.deepEqual(tpl("# memory\n-m 2G # two gigabytes\n#-enable-kvm\n"), ["-m", "2G"]);
});

Deno.test("parseTemplate: $VAR and ${VAR} come from the environment given", () => {
  assert.deepEqual(tpl(`-drive file="$VMDIR/\${HOME}/d.qcow2"`), [
    "-drive",
    "file=/srv/vms//home/u/d.qcow2",
  ]);
});

Deno.test("parseTemplate: unquoted expansions are field-split, quoted ones are not", () => {
  assert.deepEqual(tpl(`$OPTS "$OPTS"`), ["-m", "4G", "-m  4G"]);
});

Deno.test('parseTemplate: an unquoted empty expansion yields no argument, "" one', () => {
  assert.deepEqual(tpl(`-nographic $EMPTY $UNSET -b "" "$EMPTY"`), [
    "-nographic",
    "-b",
    "",
    "",
  ]);
  assert.deepEqual(tpl(`-m 1G $UNSET -S $UNSET`), ["-m", "1G", "-S"]);
});

Deno.test("parseTemplate: Object.prototype member names are just unset variables", () => {
  assert.deepEqual(tpl(`a$constructor \${toString}b "$hasOwnProperty"`), ["a", "b", ""]);
});

Deno.test("parseTemplate: backslash-newline joins lines", () => {
  assert.deepEqual(tpl("-device \\\nvirtio-net,netdev=n0"), ["-device", "virtio-net,netdev=n0"]);
});

Deno.test("parseTemplate: $(…) is refused with the template's name and line", () => {
  assert.equal(
    parseFails(() => tpl("-m 2G\n-enable-kvm\n-name $(hostname)\n"), "templates/t", 3),
    `templates/t:3: Command substitution "$(…)" is not allowed; write the value itself`,
  );
});

Deno.test("parseTemplate: backticks are refused with the right line", () => {
  parseFails(() => tpl("-m 2G\n'multi\nline'\n\n-name `hostname`"), "templates/t", 5);
  parseFails(() => tpl('-name "a\nb `x`"'), "templates/t", 2);
});

Deno.test("parseTemplate: operators and unterminated quotes are refused", () => {
  parseFails(() => tpl("-m 2G; rm -rf /"), "templates/t", 1);
  parseFails(() => tpl("-m 2G\n-a |b"), "templates/t", 2);
  parseFails(() => tpl("-a\n-b 'x\n\n"), "templates/t", 2);
});

Deno.test("parseTemplate: every shipped default template parses to what it says", () => {
  const dir = new URL("../../default/templates/", import.meta.url).pathname;
  const got = Object.fromEntries(
    templateNames(dir).map((n) => [n, parseTemplate(Deno.readTextFileSync(join(dir, n)), n, {})]),
  );
  assert.deepEqual(got["drive"], ["-drive", "file=./drive.qcow2"]);
  assert.deepEqual(got["drive-virtio"], ["-drive", "file=./drive.qcow2,if=virtio"]);
  assert.deepEqual(got["mem"], ["-m", "2G"]);
  // KVM, or TCG when QEMU cannot use KVM (vm __run also says so: lib/qemu/accel.ts).
  assert.deepEqual(got["kvm"], ["-accel", "kvm", "-accel", "tcg"]);
  assert.deepEqual(got["cpu-host"], ["-cpu", "host"]);
  assert.deepEqual(got["display-none"], ["-display", "none"]);
  // VNC on a unix socket in runit's private supervise/ (vm vnc).
  assert.deepEqual(got["vnc"], ["-vnc", "unix:./supervise/vnc"]);
  for (const [name, args] of Object.entries(got)) {
    assert.ok(args.length > 0, `${name} gives arguments`);
    assert.ok(args[0]?.startsWith("-"), `${name} starts with an option`);
  }
});

// ---------------------------------------------------------------------------
// byteOrder, templateNames

Deno.test("byteOrder: compares UTF-8 bytes (C locale), shorter prefix first", () => {
  const names = ["mem-4g", "mem", "a", "Z", "_x", "kvm", "B", "0", "é", "z", "mem-16g", "-x", ".d"];
  assert.deepEqual([...names].sort(byteOrder), [
    "-x",
    ".d",
    "0",
    "B",
    "Z",
    "_x",
    "a",
    "kvm",
    "mem",
    "mem-16g",
    "mem-4g",
    "z",
    "é",
  ]);
  assert.equal(byteOrder("a", "a"), 0);
  assert.ok(byteOrder("a", "b") < 0);
  assert.ok(byteOrder("b", "a") > 0);
  assert.ok(byteOrder("mem", "mem-4g") < 0);
});

Deno.test("byteOrder: differs from UTF-16 order for characters beyond the BMP", () => {
  // U+FF21 is EF BC A1 in UTF-8, U+1F600 is F0 9F 98 80: U+FF21 comes first,
  // though its UTF-16 code unit is larger than the surrogate D83D.
  assert.ok(byteOrder("\uFF21", "😀") < 0);
  assert.deepEqual(["😀", "\uFF21"].sort(byteOrder), ["\uFF21", "😀"]);
  assert.deepEqual(["😀", "\uFF21"].sort(), ["😀", "\uFF21"]);
});

Deno.test("templateNames: files in byte order, dotfiles, directories and broken links skipped", async () => {
  await withTempDir((dir) => {
    for (const n of ["mem", "kvm", "B-upper", "audio-pa", ".hidden", ".default", "mem-4g", "é"]) {
      Deno.writeTextFileSync(join(dir, n), "-x\n");
    }
    Deno.mkdirSync(join(dir, "subdir"));
    Deno.mkdirSync(join(dir, ".git"));
    Deno.symlinkSync(join(dir, "kvm"), join(dir, "link-to-file"));
    Deno.symlinkSync(join(dir, "subdir"), join(dir, "link-to-dir"));
    Deno.symlinkSync(join(dir, "nowhere"), join(dir, "broken-link"));
    Deno.symlinkSync(join(dir, "kvm"), join(dir, ".hidden-link"));
    assert.deepEqual(templateNames(dir), [
      "B-upper",
      "audio-pa",
      "kvm",
      "link-to-file",
      "mem",
      "mem-4g",
      "é",
    ]);
  });
});

Deno.test("templateNames: the seed's cloud-init last, whatever the disk's template is named", async () => {
  await withTempDir((dir) => {
    for (const n of ["boot", "cloud-init", "drive", "zz-disk", "guest-agent", "net-user-fwd"]) {
      Deno.writeTextFileSync(join(dir, n), "-x\n");
    }
    assert.deepEqual(templateNames(dir), [
      "boot",
      "drive",
      "guest-agent",
      "net-user-fwd",
      "zz-disk",
      "cloud-init",
    ]);
  });
  assert.deepEqual(templateOrder(["drive-virtio", "cloud-init", "a"]), [
    "a",
    "drive-virtio",
    "cloud-init",
  ]);
});

Deno.test("templateNames: an empty directory gives no names; a missing one throws NotFound", async () => {
  await withTempDir((dir) => {
    assert.deepEqual(templateNames(dir), []);
    assert.throws(() => templateNames(join(dir, "missing")), Deno.errors.NotFound);
  });
});

// ---------------------------------------------------------------------------
// readTemplates, appendOnce

Deno.test("readTemplates: every template, in byte order, parsed with the environment", async () => {
  await withTempDir((vm) => {
    const t = join(vm, "templates");
    Deno.mkdirSync(t);
    Deno.writeTextFileSync(join(t, "mem"), "-m 2G\n");
    Deno.writeTextFileSync(join(t, "drive"), `-drive file="$VMDIR/my disk.qcow2"\n`);
    Deno.writeTextFileSync(join(t, "Z"), "# nothing\n");
    Deno.writeTextFileSync(join(t, ".swp"), "$(never read)\n");
    assert.deepEqual(inspectDir(vm).readTemplates({ VMDIR: "/v" }), [
      { name: "Z", args: [] },
      { name: "drive", args: ["-drive", "file=/v/my disk.qcow2"] },
      { name: "mem", args: ["-m", "2G"] },
    ]);
  });
});

Deno.test("readTemplates: no templates directory gives no templates", async () => {
  await withTempDir((vm) => {
    assert.deepEqual(inspectDir(vm).readTemplates({}), []);
  });
});

Deno.test("readTemplates: an error names the template relative to the VM (templates/mem:3)", async () => {
  await withTempDir((vm) => {
    const t = join(vm, "templates");
    Deno.mkdirSync(t);
    Deno.writeTextFileSync(join(t, "kvm"), "-enable-kvm\n");
    Deno.writeTextFileSync(join(t, "mem"), "# memory\n-m 2G\n-name `hostname`\n");
    parseFails(() => inspectDir(vm).readTemplates({}), "templates/mem", 3);
  });
});

Deno.test("appendOnce: the arguments parse back exactly, nothing is evaluated", async () => {
  await withTempDir(async (vm) => {
    Deno.mkdirSync(join(vm, "templates"));
    const args = [
      "-cdrom",
      "/isos/my install $(rm -rf ~).iso",
      "",
      "it's",
      '"quoted" \\ `x` #not-a-comment',
      "~",
      "line\nbreak",
      "$HOME",
    ];
    await appendOnce(vm, args);
    assert.deepEqual(inspectDir(vm).readTemplates({ HOME: "/h" }), [{ name: "once", args }]);
    await appendOnce(vm, ["-boot", "order=d"]);
    assert.deepEqual(inspectDir(vm).readTemplates({ HOME: "/h" }), [{
      name: "once",
      args: [...args, "-boot", "order=d"],
    }]);
  });
});

Deno.test("appendOnce: adds a newline to an existing text that lacks one", async () => {
  await withTempDir(async (vm) => {
    Deno.mkdirSync(join(vm, "templates"));
    Deno.writeTextFileSync(join(vm, "templates", "once"), "-a # comment");
    await appendOnce(vm, ["-b c"]);
    assert.equal(Deno.readTextFileSync(join(vm, "templates", "once")), "-a # comment\n'-b c'\n");
    assert.deepEqual(inspectDir(vm).readTemplates({}), [{ name: "once", args: ["-a", "-b c"] }]);
  });
});

// ---------------------------------------------------------------------------
// templatePrefix, chooseTemplates

Deno.test("templatePrefix: the part before the first -", () => {
  assert.equal(templatePrefix("mem"), "mem");
  assert.equal(templatePrefix("mem-4g"), "mem");
  assert.equal(templatePrefix("net-user-virtio"), "net");
  assert.equal(templatePrefix("drive-virtio"), "drive");
  assert.equal(templatePrefix("-x"), "");
});

const AVAILABLE = [
  "audio-pa",
  "core-c2t2",
  "cpu-host",
  "display-none",
  "display-sdl",
  "drive",
  "drive-virtio",
  "kvm",
  "mem",
  "mem-4g",
  "mem-8g",
  "mem-high",
  "net-user-virtio",
  "nographic",
];
const DEFAULT_TEMPLATES = ["audio-pa", "cpu-host", "drive", "kvm", "mem"];

Deno.test("chooseTemplates: nothing chosen gives the defaults", () => {
  assert.deepEqual(chooseTemplates(DEFAULT_TEMPLATES, [], AVAILABLE), DEFAULT_TEMPLATES);
});

Deno.test("chooseTemplates: mem-4g replaces mem", () => {
  assert.deepEqual(chooseTemplates(DEFAULT_TEMPLATES, ["mem-4g"], AVAILABLE), [
    "audio-pa",
    "cpu-host",
    "drive",
    "kvm",
    "mem-4g",
  ]);
});

Deno.test("chooseTemplates: drive-virtio replaces drive; new prefixes are added", () => {
  assert.deepEqual(
    chooseTemplates(DEFAULT_TEMPLATES, ["drive-virtio", "nographic", "net-user-virtio"], AVAILABLE),
    ["audio-pa", "cpu-host", "drive-virtio", "kvm", "mem", "net-user-virtio", "nographic"],
  );
});

Deno.test("chooseTemplates: choosing the plain prefix replaces a longer default", () => {
  assert.deepEqual(chooseTemplates(["mem-8g", "kvm"], ["mem"], AVAILABLE), ["kvm", "mem"]);
});

Deno.test("chooseTemplates: choosing a default again keeps it once", () => {
  assert.deepEqual(
    chooseTemplates(DEFAULT_TEMPLATES, ["kvm", "kvm"], AVAILABLE),
    DEFAULT_TEMPLATES,
  );
});

Deno.test("chooseTemplates: the result is in byte order", () => {
  assert.deepEqual(chooseTemplates(["mem", "kvm"], ["display-sdl", "core-c2t2"], AVAILABLE), [
    "core-c2t2",
    "display-sdl",
    "kvm",
    "mem",
  ]);
});

Deno.test("chooseTemplates: the inputs are not changed", () => {
  const defaults = [...DEFAULT_TEMPLATES];
  const chosen = ["mem-4g"];
  chooseTemplates(defaults, chosen, AVAILABLE);
  assert.deepEqual(defaults, DEFAULT_TEMPLATES);
  assert.deepEqual(chosen, ["mem-4g"]);
});

Deno.test("chooseTemplates: an unknown template is a UsageError listing the available ones", () => {
  assert.equal(
    usageFails(() => chooseTemplates(DEFAULT_TEMPLATES, ["mem-64g"], AVAILABLE)),
    `Unknown template "mem-64g"; available: ${AVAILABLE.join(" ")}`,
  );
  assert.match(
    usageFails(() => chooseTemplates(["nope"], [], AVAILABLE)),
    /^Unknown template "nope"; available: audio-pa /,
  );
});

Deno.test("chooseTemplates: two chosen with the same prefix is a UsageError", () => {
  assert.equal(
    usageFails(() => chooseTemplates(DEFAULT_TEMPLATES, ["mem-4g", "mem-8g"], AVAILABLE)),
    `Templates "mem-4g" and "mem-8g" both set "mem"; choose one`,
  );
  assert.equal(
    usageFails(() => chooseTemplates(DEFAULT_TEMPLATES, ["mem", "kvm", "mem-high"], AVAILABLE)),
    `Templates "mem" and "mem-high" both set "mem"; choose one`,
  );
  usageFails(() => chooseTemplates([], ["display-none", "display-sdl"], AVAILABLE));
});

Deno.test("parseTemplate: a word that expands to nothing where a value belongs is an error at file:line", () => {
  const msg = parseFails(() => tpl(`-m 1G\n-name $UNSET -cpu host`), "templates/t", 2);
  assert.equal(
    msg,
    `templates/t:2: "$UNSET" expands to nothing, so "-name" would take the next word as its ` +
      `value; set what it names, or quote it ("$UNSET") for an empty value`,
  );
  parseFails(() => tpl(`-name \${EMPTY}\n`), "templates/t", 1);
  parseFails(() => tpl(`--drive $UNSET$EMPTY`), "templates/t", 1);
  // Quoted, it is an empty value; after a flag or a value, nothing shifts.
  assert.deepEqual(tpl(`-name "$UNSET" -S $UNSET -m 1G $UNSET`), ["-name", "", "-S", "-m", "1G"]);
});
