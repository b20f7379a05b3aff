/**
 * `vm import libvirt <domain> [<vm>] [--copy]` and `vm import tar <FILE|->
 * [<vm>]`: a new VM, down, from a libvirt domain or a `vm export tar`
 * archive. What the libvirt import removed, and what either brought that
 * reaches the host (disabled unless `--trust`), is said on stderr; what the
 * tar import did for a VM's SSH login (lib/export/import_login.ts) on stdout.
 * @module
 */

import type { CommandModule, Invocation } from "../core/command.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { importLibvirt } from "../../lib/export/libvirt_import.ts";
import { importTar } from "../../lib/export/tar.ts";
import type { Untrusted } from "../../lib/export/import_trust.ts";
import { movedLoginLines } from "../../lib/export/import_login.ts";
import { progress } from "./export.ts";
import { interruptible } from "./image.ts";
import { print, printErr } from "../core/output.ts";
import { optFlag, optString } from "../core/parse.ts";

/** `vm import libvirt <domain> [<vm>]`. */
export const libvirt: CommandModule = { run: importLibvirtCmd };

async function importLibvirtCmd(inv: Invocation): Promise<number> {
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
export function untrustedLine(kind: string, u: Untrusted): string {
  const what = u.arg === "" ? u.at : `${u.at}: ${u.arg}`;
  const fate = u.disabled === undefined
    ? "kept (--trust)"
    : `disabled (${u.disabled}); read it, then import again with --trust to keep it`;
  return `vm import ${kind}: ${what}: ${u.why}: ${fate}`;
}

/** `vm import tar <FILE|-> [<vm>]`. */
export const tar: CommandModule = { run: importTarCmd };

async function importTarCmd(inv: Invocation): Promise<number> {
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
  for (const line of r.login === undefined ? [] : movedLoginLines(r.name, cfg.vmdir, r.login)) {
    print(line);
  }
  print(`Start it with "vm start ${r.name}${r.login === undefined ? "" : " --ssh"}"`);
  return 0;
}
