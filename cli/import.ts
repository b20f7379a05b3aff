/**
 * `vm import libvirt <domain> [<vm>] [--copy]` and `vm import tar <FILE|->
 * [<vm>]`: a new VM, down, from a libvirt domain or a `vm export tar`
 * archive. What the libvirt import removed is said on stderr.
 * @module
 */

import type { Invocation } from "./command.ts";
import { UsageError } from "../lib/errors.ts";
import { loadConfig } from "../lib/vm/config.ts";
import { importLibvirt } from "../lib/export/libvirt_import.ts";
import { importTar } from "../lib/export/tar.ts";
import { arg, err, optString, out, progress } from "./export.ts";

async function libvirt(inv: Invocation): Promise<number> {
  const domain = arg(inv, 0, "<domain>");
  const name = inv.args[1];
  const connect = optString(inv, "connect");
  const r = await importLibvirt(loadConfig(), domain, {
    copy: inv.opts.copy === true,
    ...(name === undefined ? {} : { name }),
    ...(connect === undefined ? {} : { connect }),
    onProgress: (done, total) => err(`vm import libvirt: disk ${done} of ${total} copied`),
  });
  for (const d of r.dropped) err(`vm import libvirt: removed ${d.arg} (${d.why})`);
  out(
    `VM "${r.name}" made from domain "${domain}" (down, wait ${r.wait} s), disks: ` +
      (r.disks.length === 0 ? "none" : r.disks.join(" ")) + `; start it with "vm start ${r.name}"`,
  );
  return 0;
}

async function tar(inv: Invocation): Promise<number> {
  const file = arg(inv, 0, "<FILE|->");
  const name = inv.args[1];
  const onProgress = file === "-" ? undefined : progress();
  const r = await importTar(
    loadConfig(),
    file === "-" ? { stream: Deno.stdin.readable } : { file },
    {
      ...(name === undefined ? {} : { name }),
      ...(onProgress === undefined ? {} : { onProgress }),
    },
  );
  out(`VM "${r.name}" imported into "${r.dir}" (down); start it with "vm start ${r.name}"`);
  return 0;
}

/** Runs `vm import libvirt|tar`. */
export async function run(inv: Invocation): Promise<number> {
  const sub = inv.command.split(" ")[1];
  if (sub === "libvirt") return await libvirt(inv);
  if (sub === "tar") return await tar(inv);
  throw new UsageError(`"vm ${inv.command}" is not a command; use "vm import libvirt|tar"`);
}
