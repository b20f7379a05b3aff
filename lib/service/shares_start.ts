/**
 * A VM's shared folders at its start (`vm __run`, `vm args`): QEMU's
 * arguments for them and one virtiofsd companion per share
 * (./companions.ts starts them before QEMU and they end with it), from the
 * `shares` file (lib/vm/shares.ts) and lib/qemu/virtiofs.ts. A start is
 * refused, with one line, before anything runs when a shared folder is no
 * longer a directory, when no virtiofsd can serve (the C one needs root; the
 * Rust one is looked for), or when QEMU's memory size cannot be read: a
 * share is never dropped silently. Stats the folders; looks for programs.
 * @module
 */

import { SystemError } from "../errors.ts";
import { findExecutable } from "../os/exec.ts";
import { join } from "../os/path.ts";
import { statIfExists } from "../os/fs.ts";
import type { Env } from "../vm/config.ts";
import type { Vm } from "../vm/inspect.ts";
import { shareSocket } from "../vm/shares.ts";
import {
  findVirtiofsd,
  memoryBytes,
  noVirtiofsdLine,
  virtiofsdArgv,
  virtiofsQemuArgs,
} from "../qemu/virtiofs.ts";
import type { CompanionSpec } from "./companions.ts";

/** The longest socket path a unix socket address holds (virtiofsd binds it as given). */
const SOCKET_PATH_MAX = 107;

/** What the shares add to a start. */
export interface SharesPlan {
  /** QEMU's arguments (memory backend, chardevs, devices); none without shares. */
  args: string[];
  /** One virtiofsd per share. */
  companions: CompanionSpec[];
}

/**
 * The shares of `vm` for a start whose template arguments are
 * `templateArgs`, under `env` (its PATH finds `unshare` for a read-only
 * share of the C virtiofsd). Throws SystemError (see the module) or the
 * ParseError of a broken `shares` file.
 */
export function planShares(
  vm: Vm,
  env: Env,
  templateArgs: readonly string[],
  root: boolean = Deno.uid() === 0,
): SharesPlan {
  const shares = vm.shares;
  if (shares.length === 0) return { args: [], companions: [] };
  const refuse = (why: string) => new SystemError(`Not starting "${vm.name}": ${why}`);
  for (const s of shares) {
    if (statIfExists(s.path)?.isDirectory !== true) {
      throw refuse(
        `the folder "${s.path}" of share "${s.tag}" is gone or no directory; create it, or ` +
          `"vm share rm ${vm.name} ${s.tag}"`,
      );
    }
  }
  const d = findVirtiofsd(root);
  if (d === undefined) {
    throw refuse(
      `it shares folders (${shares.map((s) => s.tag).join(", ")}), but ${noVirtiofsdLine(root)}`,
    );
  }
  const mem = memoryBytes(templateArgs);
  if (mem === undefined) {
    throw refuse("its shared folders need its memory size, and its -m gives none vm can read");
  }
  // The PATH's absolute directories, then where Debian has them: a service's PATH may be short.
  const path = [...(env.PATH ?? "").split(":"), "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
    .filter((d) => d.startsWith("/")).join(":");
  const unshare = findExecutable("unshare", path, vm.dir);
  const mount = findExecutable("mount", path, vm.dir);
  const companions = shares.map((s): CompanionSpec => {
    const socket = join(vm.dir, shareSocket(s.tag));
    if (new TextEncoder().encode(socket).length > SOCKET_PATH_MAX) {
      throw refuse(
        `the socket of share "${s.tag}" ("${socket}") is longer than a socket address holds ` +
          `(${SOCKET_PATH_MAX} bytes); use a shorter tag or VMDIR`,
      );
    }
    if (s.readonly && d.kind === "c" && (unshare === undefined || mount === undefined)) {
      throw refuse(`the read-only share "${s.tag}" needs "unshare" and "mount" (util-linux)`);
    }
    const tools = unshare === undefined || mount === undefined
      ? undefined
      : { unshare, mount, sh: "/bin/sh" };
    return {
      name: `virtiofsd for share ${s.tag}`,
      argv: virtiofsdArgv(d, s, socket, root, tools),
      ready: socket,
    };
  });
  return { args: virtiofsQemuArgs(shares, mem, shareSocket), companions };
}
