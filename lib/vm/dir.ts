/**
 * VM directories in `$VMDIR`: finding, listing and reading the plain files
 * of one (`wait`, `down`, `log/`, `hooks`). A VM directory is a runit service
 * directory; `.default` is never a VM.
 * Reads `$VMDIR/*` and `$VMDIR/<vm>/{run,wait,down,log,hooks}`.
 * @module
 */

import { join } from "../os/path.ts";
import { SystemError, VmNotFoundError } from "../errors.ts";
import { DEFAULT_VM, F } from "./files.ts";
import { byteOrder } from "./templates.ts";
import { checkName, isValidName } from "./name.ts";
import { exists, readTextIfExists } from "../os/fs.ts";

/** Wait used when a VM's `wait` file is missing or unreadable. */
export const DEFAULT_WAIT = 10;

/** Whether `dir` looks like a VM directory (a directory with a `run` script). */
export function isVmDir(dir: string): boolean {
  try {
    return Deno.statSync(dir).isDirectory && exists(join(dir, F.run));
  } catch {
    return false;
  }
}

/** Names of the VMs in `vmdir`, sorted; dot-names and non-VM entries skipped. Reads `vmdir`. */
export function listVms(vmdir: string): string[] {
  const names: string[] = [];
  let entries: Iterable<Deno.DirEntry>;
  try {
    entries = Deno.readDirSync(vmdir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw new SystemError(`Cannot read VMDIR "${vmdir}": ${(e as Error).message}`);
  }
  for (const e of entries) {
    if (isValidName(e.name) && isVmDir(join(vmdir, e.name))) names.push(e.name);
  }
  return names.sort(byteOrder);
}

/** Path of VM `name` in `vmdir`; throws InvalidNameError for a bad name. Pure. */
export function vmPath(vmdir: string, name: string): string {
  return join(vmdir, checkName(name));
}

/** Path of an existing VM; throws InvalidNameError or VmNotFoundError. */
export function requireVm(vmdir: string, name: string): string {
  const dir = vmPath(vmdir, name);
  if (!isVmDir(dir)) throw new VmNotFoundError(name, vmdir);
  return dir;
}

/** Path of the `.default` tree; throws SystemError when it is missing. */
export function defaultDir(vmdir: string): string {
  const dir = join(vmdir, DEFAULT_VM);
  if (!exists(join(dir, F.templates))) {
    throw new SystemError(
      `No default VM in "${vmdir}" ("${DEFAULT_VM}" is missing); run ./install.sh from the vm source`,
    );
  }
  return dir;
}

/** Parses a `wait` file's text: whole seconds >= 0, or undefined. Pure. */
export function parseWait(text: string): number | undefined {
  const t = text.trim();
  return /^[0-9]+$/.test(t) ? Number(t) : undefined;
}

/** The VM's `wait` in seconds (DEFAULT_WAIT when missing or invalid). Reads `<dir>/wait`. */
export function readWait(dir: string): number {
  const text = readTextIfExists(join(dir, F.wait));
  return (text === undefined ? undefined : parseWait(text)) ?? DEFAULT_WAIT;
}

/** Whether the VM starts with vmd (no `down` file). */
export function hasAutostart(dir: string): boolean {
  return !exists(join(dir, F.down));
}

/** Whether the VM logs (has a `log/` service). */
export function hasLog(dir: string): boolean {
  return exists(join(dir, F.log));
}

/** Whether the VM has a `hooks` file. */
export function hasHooks(dir: string): boolean {
  return exists(join(dir, F.hooks));
}
