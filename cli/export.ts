/**
 * `vm export nomad|libvirt|tar …`: prints a Nomad job or a libvirt domain
 * for a VM (or defines the domain), or writes the VM as an archive. What an
 * export maps approximately or passes through is said on stderr.
 * @module
 */

import type { Invocation } from "./command.ts";
import { UsageError } from "../lib/errors.ts";
import { loadConfig } from "../lib/vm/config.ts";
import { readVmModel } from "../lib/export/vm_model.ts";
import { buildNomadJob, nomadPayload } from "../lib/export/nomad.ts";
import { nomadHcl } from "../lib/export/nomad_hcl.ts";
import { catalogLookup } from "../lib/export/interim_catalog.ts";
import { domainUuid, libvirtDomain } from "../lib/export/libvirt_xml.ts";
import { shown, where } from "../lib/export/qemu_options.ts";
import { defineDomain } from "../lib/export/virsh.ts";
import { exportTar } from "../lib/export/tar.ts";

const enc = new TextEncoder();

/** Writes a line to stdout. */
export function out(text: string): void {
  Deno.stdout.writeSync(enc.encode(text.endsWith("\n") ? text : text + "\n"));
}

/** Writes a line to stderr. */
export function err(text: string): void {
  Deno.stderr.writeSync(enc.encode(text + "\n"));
}

/** A string option's value, or undefined. */
export function optString(inv: Invocation, name: string): string | undefined {
  const v = inv.opts[name];
  return typeof v === "string" ? v : undefined;
}

/** The positional argument `i`, or a UsageError naming what is missing. */
export function arg(inv: Invocation, i: number, what: string): string {
  const v = inv.args[i];
  if (v === undefined) throw new UsageError(`Missing ${what}; see "vm ${inv.command} --help"`);
  return v;
}

/** A progress line on stderr, only when stderr is a terminal (bytes as MiB). */
export function progress(): ((done: number) => void) | undefined {
  if (!Deno.stderr.isTerminal()) return undefined;
  let last = -1;
  return (done: number) => {
    const mib = Math.floor(done / 2 ** 20);
    if (mib === last) return;
    last = mib;
    Deno.stderr.writeSync(enc.encode(`\r${mib} MiB`));
  };
}

async function nomad(inv: Invocation): Promise<number> {
  const cfg = loadConfig();
  const model = await readVmModel(cfg, arg(inv, 0, "<vm>"));
  const imageUrl = optString(inv, "image-url");
  const seedUrl = optString(inv, "seed-url");
  const { job, mappings } = buildNomadJob(model, {
    datacenter: optString(inv, "datacenter") ?? "dc1",
    lookup: catalogLookup(cfg.vmdir),
    ...(imageUrl === undefined ? {} : { imageUrl }),
    ...(seedUrl === undefined ? {} : { seedUrl }),
  });
  out(inv.opts.json ? JSON.stringify(nomadPayload(job), null, 2) : nomadHcl(job));
  for (const m of mappings) err(`vm export nomad: ${m.at ? m.at + ": " : ""}${m.arg} -> ${m.to}`);
  return 0;
}

async function libvirt(inv: Invocation): Promise<number> {
  const cfg = loadConfig();
  const model = await readVmModel(cfg, arg(inv, 0, "<vm>"));
  const d = libvirtDomain(model, await domainUuid(`vm:${model.dir}`));
  for (const g of d.commandline) {
    const at = g.word.file === "" ? "" : where(g) + ": ";
    err(`vm export libvirt: no XML form, passed in <qemu:commandline>: ${at}${shown(g)}`);
  }
  for (const n of d.notes) err(`vm export libvirt: ${n}`);
  if (inv.opts.define) {
    await defineDomain(d.xml, optString(inv, "connect"));
    out(`Domain "${model.name}" defined (virsh define); start it with "virsh start ${model.name}"`);
  } else {
    out(d.xml);
  }
  return 0;
}

async function tar(inv: Invocation): Promise<number> {
  const name = arg(inv, 0, "<vm>");
  const file = inv.args[1] ?? "-";
  if (file === "-" && Deno.stdout.isTerminal()) {
    throw new UsageError(
      `Not writing an archive to a terminal; give a FILE or pipe it ("| ssh host vm import tar -")`,
    );
  }
  const onProgress = file === "-" ? undefined : progress();
  await exportTar(loadConfig(), name, file === "-" ? { stream: Deno.stdout.writable } : { file }, {
    noBacking: inv.opts["no-backing"] === true,
    ...(onProgress === undefined ? {} : { onProgress }),
  });
  if (onProgress !== undefined) err("");
  if (file !== "-") out(`VM "${name}" written to "${file}"`);
  return 0;
}

/** Runs `vm export nomad|libvirt|tar`. */
export async function run(inv: Invocation): Promise<number> {
  const sub = inv.command.split(" ")[1];
  if (sub === "nomad") return await nomad(inv);
  if (sub === "libvirt") return await libvirt(inv);
  if (sub === "tar") return await tar(inv);
  throw new UsageError(`"vm ${inv.command}" is not a command; use "vm export nomad|libvirt|tar"`);
}
