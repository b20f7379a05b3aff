/**
 * `vm import libvirt <domain> [<vm>] [--copy]` and `vm import tar <FILE|->
 * [<vm>]`: a new VM, down, from a libvirt domain or a `vm export tar`
 * archive. What the libvirt import removed, and what either brought that
 * reaches the host (disabled unless `--trust`), is said on stderr; what the
 * tar import did for a VM's SSH login (lib/export/import_login.ts) on stdout.
 * @module
 */

import {
  type CommandSpec,
  defineCommand,
  defineGroup,
  type Invocation,
  type OptionSpec,
  type RowOptions,
} from "../core/command.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { importLibvirt } from "../../lib/export/libvirt_import.ts";
import { importTar } from "../../lib/export/tar.ts";
import type { Untrusted } from "../../lib/export/import_trust.ts";
import { movedLoginLines } from "../../lib/export/import_login.ts";
import { CONNECT, progress } from "./export.ts";
import { interruptible } from "./image.ts";
import { print, printErr } from "../core/output.ts";
import { optFlag, optString } from "../core/parse.ts";

/** `--trust` of `vm import libvirt|tar`. */
const TRUST = {
  name: "trust",
  help: "keep the hooks and QEMU arguments that reach the host it brings (else disabled)",
} as const satisfies OptionSpec;

/** The row of `vm import`: its subcommands are those of {@link importCommand}. */
const IMPORT_ROW = {
  name: "import",
  summary: "a VM from a libvirt domain or an archive of vm export tar",
  args: [],
} as const satisfies CommandSpec;

/** The row of `vm import libvirt`. */
const IMPORT_LIBVIRT_ROW = {
  name: "libvirt",
  summary: "makes a VM (down) from a defined, shut-off libvirt domain",
  args: [{ name: "<domain>", kind: "none" }, {
    name: "<vm>",
    kind: "new-vm",
    optional: true,
  }],
  options: [
    {
      name: "copy",
      help: "copy the disks into the VM directory (default: use them in place)",
    },
    CONNECT,
    TRUST,
  ],
  help: [
    "Templates drive and libvirt hold the QEMU arguments of virsh domxml-to-native without",
    "what vm adds itself or only libvirt needs (-name, -S, -no-shutdown, its monitor, master",
    "key, -no-user-config, -msg); wait from the domain's <metadata> (vm export libvirt",
    "writes it), else VMCONF_DEFAULT_WAIT. Disks must be raw or qcow2 without a data file,",
    "their backing files beside them. Arguments that reach the host (-incoming, -plugin,",
    "-sandbox off, a network monitor, script=/helper=) are listed and commented out",
    "unless --trust.",
  ],
} as const satisfies CommandSpec;

/** The row of `vm import tar`. */
const IMPORT_TAR_ROW = {
  name: "tar",
  summary: "makes a VM (down) from an archive of vm export tar (FILE, or - for stdin)",
  args: [{ name: "FILE|-", kind: "file" }, { name: "<vm>", kind: "new-vm", optional: true }],
  options: [TRUST],
  help: [
    "Refuses a name that exists; a failure leaves nothing. Overlays are rebased onto their",
    "backing images where they now are (in the VM, or in the image cache with --no-backing).",
    "Images must be raw or qcow2 without a data file, backed only inside the VM or the cache.",
    "The archive's hooks (renamed hooks.untrusted) and arguments that reach the host",
    "(-incoming, -plugin, -sandbox off, host files outside the VM…: lines commented out)",
    "are listed and disabled unless --trust.",
  ],
} as const satisfies CommandSpec;

/** `vm import libvirt <domain> [<vm>]`. */
async function importLibvirtCmd(
  inv: Invocation<RowOptions<typeof IMPORT_LIBVIRT_ROW>>,
): Promise<number> {
  const domain = inv.args[0] ?? "";
  const name = inv.args[1];
  const connect = optString(inv, "connect");
  const r = await importLibvirt(loadConfig(), domain, {
    copy: optFlag(inv, "copy"),
    ...(name === undefined ? {} : { name }),
    ...(connect === undefined ? {} : { connect }),
    trust: optFlag(inv, "trust"),
    onProgress: (done, total) => printErr(`vm import libvirt: disk ${done} of ${total} copied`),
  });
  for (const d of r.dropped) printErr(`vm import libvirt: removed ${d.arg} (${d.why})`);
  for (const u of r.untrusted) printErr(untrustedLine("libvirt", u));
  print(
    `VM "${r.name}" made from domain "${domain}" (down, wait ${r.wait} s), disks: ` +
      (r.disks.length === 0 ? "none" : r.disks.join(" ")) + `; start it with "vm start ${r.name}"`,
  );
  return 0;
}

/** The line saying what an import brought that reaches the host, and what became of it. Pure. */
function untrustedLine(kind: string, u: Untrusted): string {
  const what = u.arg === "" ? u.at : `${u.at}: ${u.arg}`;
  const fate = u.disabled === undefined
    ? "kept (--trust)"
    : `disabled (${u.disabled}); read it, then import again with --trust to keep it`;
  return `vm import ${kind}: ${what}: ${u.why}: ${fate}`;
}

/** `vm import tar <FILE|-> [<vm>]`. */
async function importTarCmd(inv: Invocation<RowOptions<typeof IMPORT_TAR_ROW>>): Promise<number> {
  const file = inv.args[0] ?? "";
  const name = inv.args[1];
  const onProgress = file === "-" ? undefined : progress();
  const src = file === "-" ? { stream: Deno.stdin.readable } : { file };
  const cfg = loadConfig();
  const r = await interruptible(
    (signal) =>
      importTar(cfg, src, {
        signal,
        trust: optFlag(inv, "trust"),
        ...(name === undefined ? {} : { name }),
        ...(onProgress === undefined ? {} : { onProgress }),
      }),
  );
  if (onProgress !== undefined) printErr("");
  for (const u of r.untrusted) printErr(untrustedLine("tar", u));
  print(`VM "${r.name}" imported into "${r.dir}" (down)`);
  for (const line of r.networks) print(`${r.name}: ${line}`);
  for (const line of r.login === undefined ? [] : movedLoginLines(r.name, cfg.vmdir, r.login)) {
    print(line);
  }
  print(`Start it with "vm start ${r.name}${r.login === undefined ? "" : " --ssh"}"`);
  return 0;
}

/** `vm import libvirt|tar`. */
export const importCommand = defineGroup(IMPORT_ROW, [
  defineCommand(IMPORT_LIBVIRT_ROW, { run: importLibvirtCmd }),
  defineCommand(IMPORT_TAR_ROW, { run: importTarCmd }),
]);
