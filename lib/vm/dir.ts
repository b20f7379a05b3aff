/**
 * VM directories in `$VMDIR`: finding and listing them, reading the plain
 * files of one (`wait`, `down`, `log/`, `hooks`), its environment, its
 * sockets, and autostart — runit's `down` file (present = no autostart; runsv
 * reads it only when it starts, so a change takes effect the next time vmd
 * starts the VM's runsv). A VM directory is a runit service directory;
 * `.default` is never a VM.
 * Reads `$VMDIR/*` and `$VMDIR/<vm>/{run,wait,down,log,hooks}`; writes or
 * removes `<vm>/down`; removes `<vm>/supervise/{monitor,qmp,console}`.
 * @module
 */

import { basename, join } from "../os/path.ts";
import { describe, SystemError, UsageError, VmExistsError, VmNotFoundError } from "../errors.ts";
import { DEFAULT_VM, F, SHARE_SOCKET_PREFIX, SOCKETS } from "../layout.ts";
import { byteOrder } from "../text/byte_order.ts";
import { quoteWord } from "../text/shell_words.ts";
import {
  dirEntries,
  type EntryType,
  entryType,
  fileMode,
  pathExists,
  readSmallFile,
  SymlinkError,
} from "../os/lookup.ts";
import { checkName, isValidName } from "./name.ts";
import { exists, readFileInside, removeIfExists, statIfExists, writeFileAtomic } from "../os/fs.ts";
import { MAX_WAIT_S, parseWholeSeconds } from "../text/units.ts";
import type { Config, Env } from "./config.ts";
import { isSupervised } from "../runit/status.ts";

const decoder = new TextDecoder();

/** Wait used when a VM's `wait` file is missing or unreadable. */
export const DEFAULT_WAIT = 10;

/** Whether `dir` looks like a VM directory (a directory with a `run` script). */
export function isVmDir(dir: string): boolean {
  return statIfExists(dir)?.isDirectory === true && exists(join(dir, F.run));
}

/**
 * Names of the VMs in `vmdir`, sorted by bytes: entries with a valid name
 * (so no dot-names) that are directories, or links to them, holding a `run`
 * script; one lookup each. Reads `vmdir`; an absent VMDIR has none.
 */
export function listVms(vmdir: string): string[] {
  return vmCandidates(vmdir).filter((name) => pathExists(`${vmdir}/${name}/${F.run}`));
}

/** The VMs of `vmdir` a live runsv supervises now (their `supervise/ok` opens). */
export function supervisedVms(vmdir: string): string[] {
  return listVms(vmdir).filter((name) => isSupervised(`${vmdir}/${name}`));
}

/** The entries of `vmdir` that may be VMs (valid names, directories or links), sorted by bytes. */
function vmCandidates(vmdir: string): string[] {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(vmdir)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw new SystemError(`Cannot read VMDIR "${vmdir}": ${describe(e)}`);
  }
  return entries.filter((e) => (e.isDirectory || e.isSymlink) && isValidName(e.name))
    .map((e) => e.name).sort(byteOrder);
}

/** The entries of one VM's directory with their types (lib/os/lookup.ts dirEntries). */
export type VmEntries = Map<string, EntryType>;

/** What a listing looks for in a VM directory it can search but not read. */
const LISTED = [
  F.run,
  F.finish,
  F.wait,
  F.down,
  F.hooks,
  F.log,
  F.ports,
  F.control,
  F.templates,
  F.supervise,
  F.backoff,
  F.networks,
];

/**
 * The entries of VM directory `dir` with their types: one read of the
 * directory (dirEntries); when it can be searched but not read, those of
 * LISTED, one lookup each; none when it is gone.
 */
export function vmEntries(dir: string): VmEntries {
  const read = dirEntries(dir);
  if (read !== undefined) return read;
  const out: VmEntries = new Map();
  for (const rel of LISTED) {
    const st = fileMode(`${dir}/${rel}`, false);
    if (st !== undefined) out.set(rel, entryType(st.mode));
  }
  return out;
}

/**
 * The VMs of `vmdir` as listVms finds them, in its order, each with the
 * entries of its directory: one directory read per VM, whose result spares
 * a listing the lookups of files that are not there. Reads `vmdir` and
 * every `<vm>/` (and `<vm>/run` when it is a link).
 */
export function readVmDirs(vmdir: string): Map<string, VmEntries> {
  const out = new Map<string, VmEntries>();
  for (const name of vmCandidates(vmdir)) {
    const entries = vmEntries(`${vmdir}/${name}`);
    const run = entries.get(F.run);
    if (run === undefined) continue;
    // A dangling link is no run script, as for listVms.
    if (run === "symlink" && !pathExists(`${vmdir}/${name}/${F.run}`)) continue;
    out.set(name, entries);
  }
  return out;
}

/** Path of VM `name` in `vmdir`; throws InvalidNameError for a bad name. Pure. */
export function vmPath(vmdir: string, name: string): string {
  return join(vmdir, checkName(name));
}

/** Path of a new VM `name` in `vmdir`; throws InvalidNameError, or VmExistsError when taken. */
export function freeVmPath(vmdir: string, name: string): string {
  const dir = vmPath(vmdir, name);
  if (exists(dir)) throw new VmExistsError(name, vmdir);
  return dir;
}

/** Path of an existing VM; throws InvalidNameError or VmNotFoundError. */
export function requireVm(vmdir: string, name: string): string {
  const dir = vmPath(vmdir, name);
  if (!isVmDir(dir)) throw new VmNotFoundError(name, vmdir);
  return dir;
}

/** The fix for a VMDIR without `.default`: install.sh sets it up (and VMDIR itself). Pure. */
export function setupHint(vmdir: string): string {
  return `VMDIR=${quoteWord(vmdir)} ./install.sh (in the vm source)`;
}

/** Path of the `.default` tree; throws SystemError when it (or VMDIR itself) is missing. */
export function defaultDir(vmdir: string): string {
  const dir = join(vmdir, DEFAULT_VM);
  if (!exists(join(dir, F.templates))) {
    if (!exists(vmdir)) {
      throw new SystemError(
        `VMDIR "${vmdir}" does not exist; run ./install.sh from the vm source (it makes VMDIR ` +
          `and "${DEFAULT_VM}"), or set VMDIR to your VMs' directory`,
      );
    }
    throw new SystemError(
      `"${dir}" is missing (the templates and scripts every VM uses); set it up with: ` +
        setupHint(vmdir),
    );
  }
  return dir;
}

/** A VM's wait, and why its `wait` file was not used when it was not. */
export interface WaitRead {
  /** Seconds, 0…MAX_WAIT_S. */
  wait: number;
  /** Set when the file exists but was not used (then `wait` is DEFAULT_WAIT). */
  problem?: string;
}

/** The bytes of `<dir>/wait` (a symlink only within the VM directory), or a problem. */
function waitBytes(dir: string): Uint8Array | undefined | string {
  const path = `${dir}/${F.wait}`;
  try {
    return readSmallFile(path, true);
  } catch (e) {
    if (!(e instanceof SymlinkError)) throw e; // a symlink: checked just below
  }
  try {
    return readFileInside(dir, path);
  } catch (e) {
    if (e instanceof SymlinkError) return e.message;
    throw e;
  }
}

/**
 * The VM's `wait`: whole seconds from 0 to MAX_WAIT_S; DEFAULT_WAIT when the
 * file is missing, and, with a `problem` saying why, when it holds anything
 * else or is a symlink out of the VM directory. Reads `<dir>/wait`.
 */
export function waitOf(dir: string): WaitRead {
  const bytes = waitBytes(dir);
  if (bytes === undefined) return { wait: DEFAULT_WAIT };
  if (typeof bytes === "string") return { wait: DEFAULT_WAIT, problem: bytes };
  const text = decoder.decode(bytes);
  const wait = parseWholeSeconds(text);
  if (wait !== undefined) return { wait };
  const shown = JSON.stringify(text.trim().slice(0, 40));
  return {
    wait: DEFAULT_WAIT,
    problem: `"${dir}/${F.wait}" holds ${shown}, not whole seconds from 0 to ${MAX_WAIT_S}; ` +
      `${DEFAULT_WAIT} s is used: write e.g. "echo 30 > ${dir}/${F.wait}"`,
  };
}

/**
 * The seconds of `wait` (`30`, or with the unit the question shows: `30s`,
 * `30 s`) when they are whole seconds 0…MAX_WAIT_S; throws UsageError
 * otherwise. Pure.
 */
export function checkWait(wait: string): string {
  const seconds = parseWholeSeconds(wait.trim().replace(/(?<=\d)\s*s$/i, ""));
  if (seconds === undefined) {
    throw new UsageError(
      `Wait "${wait}" is not a number of seconds from 0 to ${MAX_WAIT_S} (one day); ` +
        `give whole seconds, e.g. 10 (--wait 10)`,
    );
  }
  return String(seconds);
}

/** The VM's `wait` in seconds (see waitOf; DEFAULT_WAIT when missing or invalid). Reads `<dir>/wait`. */
export function readWait(dir: string): number {
  return waitOf(dir).wait;
}

/** Paths (relative to the VM directory) a clone never copies: runit's and svlogd's run-time state. */
export function skipInClone(rel: string): boolean {
  if (rel === F.supervise || rel === `${F.log}/${F.supervise}`) return true;
  if (rel === F.backoff || rel === F.down || rel === F.lock) return true;
  // svlogd's files: current, rotated logs, lock, state; its config is kept.
  return rel.startsWith(F.logMain + "/") && rel !== `${F.logMain}/config`;
}

/** Whether the VM starts with vmd (no `down` file). */
export function hasAutostart(dir: string): boolean {
  return !exists(join(dir, F.down));
}

/** Whether the VM logs (has a `log/` service). */
export function hasLog(dir: string): boolean {
  return exists(join(dir, F.log));
}

/** The environment hooks, templates and QEMU of a VM see: the config's plus VM_NAME and VM_DIR. Pure. */
export function vmEnv(cfg: Config, vmDir: string): Env {
  return { ...cfg.env, VM_NAME: basename(vmDir), VM_DIR: vmDir };
}

/**
 * Removes the VM's sockets (stale ones before a start, all after a stop):
 * QEMU's, and the shared folders' (`supervise/fs-TAG`, lib/vm/shares.ts).
 */
export function removeSockets(vmDir: string): void {
  for (const s of SOCKETS) removeIfExists(join(vmDir, s));
  const supervise = join(vmDir, F.supervise);
  for (const [name, type] of dirEntries(supervise) ?? []) {
    if (name.startsWith(SHARE_SOCKET_PREFIX) && type === "other") {
      removeIfExists(join(supervise, name));
    }
  }
}

/** Turns autostart of the VM in `dir` on (removes `down`) or off (creates `down` atomically). */
export function setAutostart(dir: string, on: boolean): void {
  const down = join(dir, F.down);
  if (!on) {
    if (hasAutostart(dir)) writeFileAtomic(down, "");
    return;
  }
  removeIfExists(down);
}
