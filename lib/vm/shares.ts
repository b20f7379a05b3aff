/**
 * Shared folders of a VM: the `shares` file in the VM directory, one share
 * per line — `TAG OPTIONS HOSTDIR`: the virtiofs tag the guest mounts by,
 * `rw` or `ro` (optionally followed by `,guest=/path`, where a cloud-init
 * guest mounts it; `/mnt/TAG` otherwise), and the host folder, an absolute
 * path up to the end of the line (it may hold spaces). `#` comments and
 * blank lines allowed. It is parsed, never executed; `vm share` edits it,
 * `vm __run` gives QEMU one vhost-user-fs device per share, served by a
 * virtiofsd (lib/service/shares_start.ts). Pure, except {@link readShares}
 * and {@link writeShares}, which read or write `<vm>/shares`.
 * Level: vm.
 * @module
 */

import { join } from "../os/path.ts";
import { ParseError } from "../errors.ts";
import { readTextIfExists, writeFileAtomic } from "../os/fs.ts";
import { F, SHARE_SOCKET_PREFIX } from "../layout.ts";

/** One shared folder. */
export interface ShareRule {
  /** The virtiofs tag (`mount -t virtiofs TAG /mnt`). */
  tag: string;
  /** The host folder, absolute. */
  path: string;
  /** Read-only: the guest's writes fail (enforced on the host). */
  readonly: boolean;
  /** Where a cloud-init guest mounts it (default `/mnt/TAG`). */
  guestPath?: string;
}

/**
 * The longest tag: virtio-fs's configuration holds 36 bytes; vm also names
 * the socket `supervise/fs-TAG` and QEMU's ids `fs-TAG` with it.
 */
export const TAG_MAX = 36;

const TAG = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Control characters (C0 and DEL): a line of the file must hold none. */
// deno-lint-ignore no-control-regex -- control characters are what this matches
const CONTROL = /[\x00-\x1f\x7f]/;

/** Why `tag` is not a usable tag, or undefined when it is. Pure. */
export function tagProblem(tag: string): string | undefined {
  if (tag.length > TAG_MAX) return `tag "${tag}" is longer than ${TAG_MAX} bytes`;
  if (!TAG.test(tag)) {
    return `tag "${tag}" is not letters, digits, ".", "_", "-" (starting with a letter or digit)`;
  }
  return undefined;
}

/** Why `path` is not a usable guest mount point, or undefined. Pure. */
export function guestPathProblem(path: string): string | undefined {
  if (!path.startsWith("/") || path === "/") return `guest path "${path}" is not an absolute path`;
  if (/[\s,#\\'"]/.test(path) || CONTROL.test(path)) {
    return `guest path "${path}" holds a space, comma, quote, "#" or "\\"`;
  }
  if (path.split("/").some((p) => p === "." || p === "..")) {
    return `guest path "${path}" holds "." or ".."`;
  }
  return undefined;
}

/** Why `path` cannot be a host folder in the file (one line, absolute), or undefined. Pure. */
export function hostPathProblem(path: string): string | undefined {
  if (!path.startsWith("/")) return `host folder "${path}" is not an absolute path`;
  if (CONTROL.test(path)) return "the host folder's name holds a control character";
  return undefined;
}

/** The socket a share's virtiofsd serves QEMU on, relative to the VM directory. Pure. */
export function shareSocket(tag: string): string {
  return `${F.supervise}/${SHARE_SOCKET_PREFIX}${tag}`;
}

/** Where a cloud-init guest mounts `s`. Pure. */
export function guestMountPoint(s: ShareRule): string {
  return s.guestPath ?? `/mnt/${s.tag}`;
}

/** A share as one line of the file (no newline). Pure. */
export function formatShare(s: ShareRule): string {
  const opts = (s.readonly ? "ro" : "rw") +
    (s.guestPath === undefined ? "" : `,guest=${s.guestPath}`);
  return `${s.tag} ${opts} ${s.path}`;
}

/** Parses one line's options (`rw`, `ro`, `guest=/p`). Pure. Returns them or a reason. */
function parseOptions(text: string): { readonly: boolean; guestPath?: string } | string {
  let ro: boolean | undefined;
  let guestPath: string | undefined;
  for (const o of text.split(",")) {
    if (o === "rw" || o === "ro") {
      if (ro !== undefined) return `"${text}" says rw or ro twice`;
      ro = o === "ro";
    } else if (o.startsWith("guest=")) {
      guestPath = o.slice("guest=".length);
      const p = guestPathProblem(guestPath);
      if (p !== undefined) return p;
    } else return `unknown option "${o}" (expected rw or ro, and guest=/path)`;
  }
  if (ro === undefined) return `"${text}" says neither rw nor ro`;
  return guestPath === undefined ? { readonly: ro } : { readonly: ro, guestPath };
}

/** Parses a `shares` file's text. Pure. Throws ParseError (`<file>:<line>: …`). */
export function parseShares(text: string, file: string): ShareRule[] {
  const shares: ShareRule[] = [];
  text.split("\n").forEach((raw, i) => {
    if (/^\s*(#.*)?$/.test(raw)) return;
    const m = /^\s*(\S+) (\S+) (.+)$/.exec(raw);
    if (m === null) throw new ParseError(file, i + 1, "expected TAG rw|ro HOSTDIR");
    const [, tag = "", optText = "", path = ""] = m;
    const problem = tagProblem(tag) ?? hostPathProblem(path);
    if (problem !== undefined) throw new ParseError(file, i + 1, problem);
    const opts = parseOptions(optText);
    if (typeof opts === "string") throw new ParseError(file, i + 1, opts);
    if (shares.some((s) => s.tag === tag)) {
      throw new ParseError(file, i + 1, `tag "${tag}" is shared twice`);
    }
    shares.push({ tag, path, ...opts });
  });
  return shares;
}

/** The text of a `shares` file holding `shares`. Pure. */
export function formatShares(shares: readonly ShareRule[]): string {
  return shares.map((s) => formatShare(s) + "\n").join("");
}

/** The VM's shares (none without a `shares` file). Reads `<vmDir>/shares`. */
export function readShares(vmDir: string): ShareRule[] {
  const text = readTextIfExists(join(vmDir, F.shares));
  return text === undefined ? [] : parseShares(text, join(vmDir, F.shares));
}

/** Writes the VM's shares atomically (mode 0600); none: the file is written empty. */
export function writeShares(vmDir: string, shares: readonly ShareRule[]): void {
  writeFileAtomic(join(vmDir, F.shares), formatShares(shares), 0o600);
}

/** The shares as `vm share list --json` gives them. Pure. */
export function sharesJson(shares: readonly ShareRule[]): Record<string, unknown>[] {
  return shares.map((s) => ({
    tag: s.tag,
    path: s.path,
    readonly: s.readonly,
    guest_path: guestMountPoint(s),
  }));
}
