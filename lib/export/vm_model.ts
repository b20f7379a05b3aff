/**
 * One VM as a plain description for the exporters (Nomad, libvirt, tar):
 * its template arguments, each with the template file and line it came from,
 * its `wait`, its disks with their formats and backing chains, its cloud-init
 * seed, forwarded ports and shared folders. The templates are read as `vm start` reads them
 * (same environment, `templates/once` skipped as it is for one start only)
 * but the `pre_qemu` hook is not run. Area lib/export, at the level of actions.
 * Reads `<vm>/templates/*`, `<vm>/wait`, `<vm>/ports`, `<vm>/shares`, `<vm>/seed.iso`; runs
 * `qemu-img info --backing-chain` on the disks.
 * @module
 */

import { join, normalize, resolve } from "../os/path.ts";
import type { Config, Env } from "../vm/config.ts";
import { lexCommands } from "../text/shell_words.ts";
import { diskPaths } from "../qemu/drives.ts";
import { backingChain, type ImageInfo } from "../qemu/img.ts";
import { F, ONCE_TEMPLATE, SEED_FILES } from "../layout.ts";
import { exists } from "../os/fs.ts";
import type { VmArg } from "./qemu_options.ts";
import type { PortRule as PortForward } from "../vm/ports.ts";
import type { ShareRule } from "../vm/shares.ts";
import { vmEnv } from "../vm/dir.ts";
import type { Vm } from "../vm/inspect.ts";
import type { Attachment } from "../vm/network.ts";
import { toHex } from "../text/bytes.ts";

/** One image of a disk's backing chain. */
export interface ImageLayer {
  /** Absolute, normalized. */
  path: string;
  format: string;
}

/** One disk of the VM. */
export interface DiskModel {
  /** Absolute, normalized (as QEMU opens it with the VM directory as its cwd). */
  path: string;
  format: string;
  virtualSize: number;
  /** The images below it, nearest first; empty when it has no backing file. */
  chain: ImageLayer[];
  /** The backing file it names when qemu-img could not open it (then `chain` is empty). */
  missingBacking?: string;
}

/** The cloud-init seed. */
export interface SeedModel {
  path: string;
  /** sha256 of its bytes, hex. */
  sha256: string;
}

/** A VM as the exporters see it. */
export interface VmModel {
  name: string;
  /** Absolute VM directory. */
  dir: string;
  /** QEMU's architecture (`x86_64`, `aarch64`): VMCONF_QEMU_ARCH or the host's. */
  arch: string;
  args: VmArg[];
  /** Seconds the guest gets to power off. */
  wait: number;
  disks: DiskModel[];
  seed?: SeedModel;
  ports: PortForward[];
  /** Shared folders (the `shares` file); none when absent. */
  shares?: ShareRule[];
  /** Its NICs on private networks and bridges (lib/vm/network.ts). */
  attachments: Attachment[];
}

/**
 * The arguments of one template with their lines; `file` is the name shown
 * in messages (`templates/mem`). Pure. Throws ParseError as `vm start` would.
 */
export function templateArgs(text: string, file: string, env: Env): VmArg[] {
  const lookup = (name: string) => Object.hasOwn(env, name) ? env[name] : undefined;
  const out: VmArg[] = [];
  for (const cmd of lexCommands(text, { file, lookup })) {
    for (const w of cmd) out.push({ value: w.value, file, line: w.line });
  }
  return out;
}

/** A disk from `qemu-img info --backing-chain` output (top first). Pure. */
export function diskFromChain(path: string, chain: readonly ImageInfo[]): DiskModel {
  const top = chain[0];
  const disk: DiskModel = {
    path,
    format: top?.format ?? "raw",
    virtualSize: top?.["virtual-size"] ?? 0,
    chain: chain.slice(1).map((i) => ({ path: normalize(resolve(i.filename)), format: i.format })),
  };
  const backing = top?.["full-backing-filename"] ?? top?.["backing-filename"];
  if (backing !== undefined && chain.length === 1) disk.missingBacking = backing;
  return disk;
}

/** Every template argument of `vm` with `env`, `once` skipped. Reads its templates. */
export function readVmArgs(vm: Vm, env: Env): VmArg[] {
  return vm.templates.filter((n) => n !== ONCE_TEMPLATE).flatMap((n) =>
    templateArgs(vm.templateText(n) ?? "", `${F.templates}/${n}`, env)
  );
}

/** sha256 of a file's bytes, hex. Reads `path`. */
export async function sha256File(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return toHex(new Uint8Array(digest));
}

/** Reads `vm` into a VmModel (see the module doc). */
export async function readVmModel(cfg: Config, vm: Vm): Promise<VmModel> {
  const dir = resolve(vm.dir);
  const args = readVmArgs(vm, vmEnv(cfg, dir));
  const disks: DiskModel[] = [];
  for (const path of diskPaths(dir, args.map((a) => a.value))) {
    disks.push(diskFromChain(path, await backingChain(path)));
  }
  const seedPath = join(dir, SEED_FILES.iso);
  const model: VmModel = {
    name: vm.name,
    dir,
    arch: cfg.qemuArch ?? (Deno.build.arch === "aarch64" ? "aarch64" : "x86_64"),
    args,
    wait: vm.wait,
    disks,
    ports: vm.ports ?? [],
    shares: vm.shares,
    attachments: vm.attachments,
  };
  if (exists(seedPath)) {
    model.seed = { path: seedPath, sha256: await sha256File(seedPath) };
  }
  return model;
}
