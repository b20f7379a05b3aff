/**
 * Host bridges for `vm net attach --bridge`: whether an interface is a
 * bridge, and whether QEMU's bridge helper (Debian's, setuid root, reading
 * /etc/qemu/bridge.conf) may put a NIC on it for a user; what to configure
 * when not. Reads /sys/class/net, the helper's mode, bridge.conf.
 * @module
 */

import { exists } from "../os/fs.ts";

/** QEMU's bridge helper (Debian's qemu-system-common), setuid root, reading /etc/qemu/bridge.conf. */
export const BRIDGE_HELPER = "/usr/lib/qemu/qemu-bridge-helper";
/** The helper's list of the bridges users may attach to. */
export const BRIDGE_CONF = "/etc/qemu/bridge.conf";

/** Why QEMU's bridge helper cannot attach to `bridge` (as this user), or undefined. */
export function bridgeProblem(
  bridge: string,
  uid: number = Deno.uid() ?? 0,
  files: { helper: string; conf: string } = { helper: BRIDGE_HELPER, conf: BRIDGE_CONF },
): string | undefined {
  const { helper: helperPath, conf: confPath } = files;
  let helper: Deno.FileInfo;
  try {
    helper = Deno.statSync(helperPath);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    return `QEMU's bridge helper ${helperPath} is missing: install qemu-system-common`;
  }
  if (uid !== 0 && ((helper.mode ?? 0) & 0o4000) === 0) {
    return `QEMU's bridge helper ${helperPath} is not setuid root, so only root can use ` +
      `bridges: as root, chmod u+s ${helperPath}`;
  }
  const allowed = bridgeConfAllows(confPath, bridge, 0);
  if (allowed === true) return undefined;
  return `QEMU's bridge helper may not use bridge "${bridge}": as root, add the line ` +
    `"allow ${bridge}" to ${confPath}` +
    (allowed === "unreadable" ? ` (it cannot be read by you: make it readable)` : "");
}

/**
 * Whether bridge.conf `path` (and the files it includes) allows `bridge`
 * (`allow NAME` or `allow all`, no `deny` for it first); "unreadable" when it
 * cannot be read.
 */
function bridgeConfAllows(path: string, bridge: string, depth: number): boolean | "unreadable" {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    if (e instanceof Deno.errors.PermissionDenied) return "unreadable";
    throw e;
  }
  for (const line of text.split("\n")) {
    const [word, arg] = line.trim().split(/\s+/);
    if ((word === "deny") && (arg === bridge || arg === "all")) return false;
    if ((word === "allow") && (arg === bridge || arg === "all")) return true;
    if (word === "include" && arg !== undefined && depth < 4) {
      const r = bridgeConfAllows(arg, bridge, depth + 1);
      if (r !== false) return r;
    }
  }
  return false;
}

/** Whether host interface `name` is a bridge (`/sys/class/net/NAME/bridge`). */
export function isBridge(name: string): boolean {
  return exists(`/sys/class/net/${name}/bridge`);
}
