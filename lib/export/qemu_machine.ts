/**
 * What QEMU makes of a VM's machine options, as the exporters need it: the
 * accelerator (`-enable-kvm`, `-accel`, `-machine accel=`), memory (`-m`),
 * CPUs and topology (`-smp`), machine type (`-machine`/`-M`), and which
 * devices are paired by id (`-netdev id=n0` with `-device …,netdev=n0`).
 * QEMU's own defaults apply when an option is missing (128 MiB, 1 CPU, tcg).
 * Pure: no I/O. Area lib/export, at the level of actions.
 * @module
 */

import { UsageError } from "../errors.ts";
import { leadWord, type OptionGroup, optsOf, shown, where } from "./qemu_options.ts";
import { optGet } from "../qemu/opt_list.ts";

/** QEMU's default memory in MiB when `-m` is not given. */
export const QEMU_DEFAULT_MEM_MIB = 128;

const UNIT: Record<string, number> = {
  "": 1,
  B: 1,
  K: 2 ** 10,
  M: 2 ** 20,
  G: 2 ** 30,
  T: 2 ** 40,
};

/** MiB of a `-m` size (`1G`, `512`, `512M`; a bare number is MiB as QEMU reads it), or undefined. Pure. */
export function memoryMiB(size: string): number | undefined {
  const m = /^([0-9]+(?:\.[0-9]+)?)([bBkKmMgGtT]?)$/.exec(size);
  if (m === null) return undefined;
  const unit = (m[2] ?? "").toUpperCase();
  if (unit === "") return Math.round(Number(m[1]));
  return Math.round((Number(m[1]) * (UNIT[unit] ?? 1)) / 2 ** 20);
}

/** CPU topology of `-smp`. */
export interface Smp {
  cpus: number;
  sockets: number;
  cores: number;
  threads: number;
  /** Whether sockets, cores or threads were given (else only a count). */
  topology: boolean;
}

/** Reads a `-smp` value (`2`, `cpus=4`, `cores=2,threads=2`) as QEMU does. Pure; throws UsageError. */
export function parseSmp(g: OptionGroup): Smp {
  const opts = optsOf(g);
  const num = (k: string) => {
    const v = optGet(opts, k);
    if (v === undefined) return undefined;
    if (!/^[0-9]+$/.test(v)) {
      throw new UsageError(`${where(g)}: "${shown(g)}": ${k} is not a number`);
    }
    return Number(v);
  };
  const first = opts[0];
  const count = first?.bare && /^[0-9]+$/.test(first.key) ? Number(first.key) : num("cpus");
  const sockets = num("sockets");
  const cores = num("cores");
  const threads = num("threads");
  const topology = sockets !== undefined || cores !== undefined || threads !== undefined;
  const product = (sockets ?? 1) * (cores ?? 1) * (threads ?? 1) * (num("dies") ?? 1) *
    (num("clusters") ?? 1);
  const cpus = count ?? (topology ? product : 1);
  return {
    cpus,
    sockets: sockets ?? Math.max(1, Math.floor(cpus / ((cores ?? 1) * (threads ?? 1)))),
    cores: cores ?? 1,
    threads: threads ?? 1,
    topology,
  };
}

/** The accelerator the arguments ask for (the first one named), `tcg` when none. Pure. */
export function acceleratorOf(groups: readonly OptionGroup[]): string {
  for (const g of groups) {
    if (g.opt === "-enable-kvm") return "kvm";
    if (g.opt === "-accel") return leadWord(optsOf(g), "accel") ?? "tcg";
    if (g.opt === "-machine" || g.opt === "-M") {
      const accel = optGet(optsOf(g), "accel");
      if (accel !== undefined) return accel.split(":")[0] ?? "tcg";
    }
  }
  return "tcg";
}

/** The machine type of `-machine`/`-M` (the last given), or undefined. Pure. */
export function machineTypeOf(groups: readonly OptionGroup[]): string | undefined {
  let type: string | undefined;
  for (const g of groups) {
    if (g.opt !== "-machine" && g.opt !== "-M") continue;
    const opts = optsOf(g);
    const t = optGet(opts, "type") ?? (opts[0]?.bare ? opts[0].key : undefined);
    if (t !== undefined) type = t;
  }
  return type;
}

/** Memory in MiB from `-m` (the last given), QEMU's 128 when none. Pure; throws UsageError. */
export function memoryOf(groups: readonly OptionGroup[]): number {
  let mib = QEMU_DEFAULT_MEM_MIB;
  for (const g of groups) {
    if (g.opt !== "-m") continue;
    const opts = optsOf(g);
    const size = optGet(opts, "size") ?? (opts[0]?.bare ? opts[0].key : undefined);
    const v = size === undefined ? undefined : memoryMiB(size);
    if (v === undefined) throw new UsageError(`${where(g)}: "${shown(g)}" gives no memory size`);
    mib = v;
  }
  return mib;
}

/** The `-smp` of the arguments (the last given), or 1 CPU. Pure; throws UsageError. */
export function smpOf(groups: readonly OptionGroup[]): Smp {
  let smp: Smp = { cpus: 1, sockets: 1, cores: 1, threads: 1, topology: false };
  for (const g of groups) if (g.opt === "-smp") smp = parseSmp(g);
  return smp;
}

/** The `id=` of a group's option list, if any. Pure. */
export function idOf(g: OptionGroup): string | undefined {
  return optGet(optsOf(g), "id");
}

/** The groups whose option `key` is `id` (`-device …,netdev=n0` for key "netdev"). Pure. */
export function usersOf(groups: readonly OptionGroup[], key: string, id: string): OptionGroup[] {
  return groups.filter((g) => g.opt === "-device" && optGet(optsOf(g), key) === id);
}
