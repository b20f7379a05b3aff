// lib/vm/config_report.ts and cli/commands/config.ts: which files are read, every
// VM* setting with its origin (vm config).

import assert from "node:assert/strict";
import { join } from "node:path";
import { configReport, effectiveSettings } from "../../lib/vm/config_report.ts";
import { SYSTEM_CONF } from "../../lib/vm/config.ts";
import { configText } from "../../cli/commands/config.ts";
import { withTempDir } from "../support/temp_dir.ts";

Deno.test("effectiveSettings: file over env over default; other VM* variables too", () => {
  const env = {
    HOME: "/h",
    VMDIR: "/env/vms",
    VMCONF_DEFAULT_WAIT: "5",
    VM_SETUP_YES: "1",
    X: "1",
  };
  const file = { VMCONF_DEFAULT_WAIT: "30", VMCONF_IMAGES: "/i.conf" };
  assert.deepEqual(effectiveSettings(env, file, "x86_64"), [
    { key: "VMDIR", value: "/env/vms", origin: "env" },
    { key: "VMCONF_DEFAULT_TEMPLATES", value: "display-none drive kvm mem vnc", origin: "default" },
    { key: "VMCONF_DEFAULT_DRIVE", value: "20G", origin: "default" },
    { key: "VMCONF_DEFAULT_WAIT", value: "30", origin: "file" },
    { key: "VMCONF_QEMU", value: "qemu-system-x86_64", origin: "default" },
    { key: "VMCONF_QEMU_ARCH", value: "x86_64", origin: "default" },
    { key: "VMCONF_IMAGES", value: "/i.conf", origin: "file" },
    { key: "VM_SETUP_YES", value: "1", origin: "env" },
  ]);
});

Deno.test("effectiveSettings: defaults follow the settings they derive from", () => {
  const s = effectiveSettings({ HOME: "/h", VMCONF_QEMU_ARCH: "aarch64", VMDIR: "" }, {}, "x86_64");
  const by = Object.fromEntries(s.map((x) => [x.key, `${x.value} (${x.origin})`]));
  assert.equal(by.VMDIR, "/h/.local/share/runit-vm (default)");
  assert.equal(by.VMCONF_QEMU_ARCH, "aarch64 (env)");
  assert.equal(by.VMCONF_QEMU, "qemu-system-aarch64 (default)");
});

Deno.test("configReport: the first found is read, later ones are not; vm config's text", async () => {
  await withTempDir((dir) => {
    const xdg = join(dir, "xdg"), home = join(dir, "home");
    const homeConf = join(home, ".config/runit-vm/conf");
    Deno.mkdirSync(join(home, ".config/runit-vm"), { recursive: true });
    Deno.writeTextFileSync(homeConf, "VMCONF_DEFAULT_DRIVE=60G\n");
    const env = { HOME: home, XDG_CONFIG_HOME: xdg, VMDIR: "/v" };
    const exists = (p: string) => p === homeConf || p === SYSTEM_CONF;
    const r = configReport(env, exists, "x86_64");
    assert.deepEqual(r.files, [
      { path: join(xdg, "runit-vm/conf"), state: "missing" },
      { path: homeConf, state: "read" },
      { path: SYSTEM_CONF, state: "skipped" },
    ]);
    assert.equal(
      configText(r),
      [
        `config ${xdg}/runit-vm/conf: not found`,
        `config ${homeConf}: read`,
        `config ${SYSTEM_CONF}: not read (the first file found applies)`,
        "VMDIR=/v (env)",
        "VMCONF_DEFAULT_TEMPLATES='display-none drive kvm mem vnc' (default)",
        "VMCONF_DEFAULT_DRIVE=60G (file)",
        "VMCONF_DEFAULT_WAIT=10 (default)",
        "VMCONF_QEMU=qemu-system-x86_64 (default)",
        "VMCONF_QEMU_ARCH=x86_64 (default)",
      ].join("\n"),
    );
    // VMCONF names the file: no search.
    const named = configReport({ ...env, VMCONF: homeConf }, exists, "x86_64");
    assert.deepEqual(named.files, [{ path: homeConf, state: "read" }]);
    assert.match(configText(named), /^config .*: read \(VMCONF\)$/m);
  });
});
