/**
 * `vm export nomad|libvirt|tar …`: prints a Nomad job or a libvirt domain
 * for a VM (or defines the domain), or writes the VM as an archive. What an
 * export maps approximately or passes through is said on stderr.
 * @module
 */

import type { CommandModule, Invocation } from "../core/command.ts";
import { print, printErr, writeErr } from "../core/output.ts";
import { optFlag, optString } from "../core/parse.ts";
import { UsageError } from "../../lib/errors.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { readVmModel } from "../../lib/export/vm_model.ts";
import { buildNomadJob, nomadPayload } from "../../lib/export/nomad.ts";
import { nomadHcl } from "../../lib/export/nomad_hcl.ts";
import { cacheLookup } from "../../lib/export/image_source.ts";
import { domainUuid, libvirtDomain } from "../../lib/export/libvirt_xml.ts";
import { shown, where } from "../../lib/export/qemu_options.ts";
import { defineDomain } from "../../lib/export/virsh.ts";
import { exportTar } from "../../lib/export/tar.ts";
import { interruptible } from "./image.ts";

/** A progress line on stderr, only when stderr is a terminal (bytes as MiB). */
export function progress(): ((done: number) => void) | undefined {
  if (!Deno.stderr.isTerminal()) return undefined;
  let last = -1;
  return (done: number) => {
    const mib = Math.floor(done / 2 ** 20);
    if (mib === last) return;
    last = mib;
    writeErr(`\r${mib} MiB`);
  };
}

/** `vm export nomad <vm>`. */
export const nomad: CommandModule = { run: exportNomad };

async function exportNomad(inv: Invocation): Promise<number> {
  const cfg = loadConfig();
  const model = await readVmModel(cfg, inv.args[0] ?? "");
  const imageUrl = optString(inv, "image-url");
  const seedUrl = optString(inv, "seed-url");
  const { job, mappings } = buildNomadJob(model, {
    datacenter: optString(inv, "datacenter") ?? "dc1",
    lookup: cacheLookup(cfg.vmdir),
    ...(imageUrl === undefined ? {} : { imageUrl }),
    ...(seedUrl === undefined ? {} : { seedUrl }),
  });
  print(optFlag(inv, "json") ? JSON.stringify(nomadPayload(job), null, 2) : nomadHcl(job));
  for (const m of mappings) {
    printErr(`vm export nomad: ${m.at ? m.at + ": " : ""}${m.arg} -> ${m.to}`);
  }
  return 0;
}

/** `vm export libvirt <vm>`. */
export const libvirt: CommandModule = { run: exportLibvirt };

async function exportLibvirt(inv: Invocation): Promise<number> {
  const cfg = loadConfig();
  const model = await readVmModel(cfg, inv.args[0] ?? "");
  const d = libvirtDomain(model, await domainUuid(`vm:${model.dir}`));
  for (const g of d.commandline) {
    const at = g.word.file === "" ? "" : where(g) + ": ";
    printErr(`vm export libvirt: no XML form, passed in <qemu:commandline>: ${at}${shown(g)}`);
  }
  for (const n of d.notes) printErr(`vm export libvirt: ${n}`);
  if (optFlag(inv, "define")) {
    await defineDomain(d.xml, optString(inv, "connect"));
    print(
      `Domain "${model.name}" defined (virsh define); start it with "virsh start ${model.name}"`,
    );
  } else {
    print(d.xml);
  }
  return 0;
}

/** `vm export tar <vm> [FILE|-]`. */
export const tar: CommandModule = { run: exportTarCmd };

async function exportTarCmd(inv: Invocation): Promise<number> {
  const name = inv.args[0] ?? "";
  const file = inv.args[1] ?? "-";
  if (file === "-" && Deno.stdout.isTerminal()) {
    throw new UsageError(
      `Not writing an archive to a terminal; give a FILE or pipe it ("| ssh host vm import tar -")`,
    );
  }
  const onProgress = file === "-" ? undefined : progress();
  const out = file === "-" ? { stream: Deno.stdout.writable } : { file };
  await interruptible(
    (signal) =>
      exportTar(loadConfig(), name, out, {
        noBacking: optFlag(inv, "no-backing"),
        signal,
        ...(onProgress === undefined ? {} : { onProgress }),
      }),
  );
  if (onProgress !== undefined) printErr("");
  if (file !== "-") print(`VM "${name}" written to "${file}"`);
  return 0;
}
