/**
 * `vm port`: adding and removing forwards in a VM's `ports` file. On a
 * running VM the change is applied at once through the HMP monitor
 * (`hostfwd_add` / `hostfwd_remove` on the netdev `vmnet`) before the file
 * is written, so the file never claims a forward QEMU refused. A change to
 * the SSH forward rewrites `ssh/known_hosts` for the new port. A VM whose
 * templates do not take the forwards gets the `net-user-fwd` template when
 * it has no network options (QEMU's default NIC) and is refused otherwise,
 * so no forward is claimed that never happens. Each change holds the VM's
 * lock (lib/vm/lock.ts), and an addition also the VMDIR's, under which no
 * other VM can take the same host port meanwhile.
 * Reads and writes `<vm>/ports`, `<vm>/ssh/known_hosts`; talks to
 * `<vm>/supervise/monitor`; reads other VMs' `ports`.
 * @module
 */

import { CheckFailedError, UsageError } from "../errors.ts";
import { connectVmSocket } from "../qemu/console.ts";
import { running } from "../qemu/processes.ts";
import {
  DEFAULT_NIC_TEMPLATE,
  formatRule,
  forwardCarrier,
  hmpAdd,
  hmpRemove,
  HOSTFWD_VAR,
  NETDEV_ID,
  type PortRule,
  portsInUse,
  readPorts,
  sameHostSide,
  sshRule,
  writePorts,
} from "../vm/ports.ts";
import { canBind, holderText } from "../vm/port_check.ts";
import { writeKnownHosts } from "../ssh/key_files.ts";
import { exists, writeFileAtomic } from "../os/fs.ts";
import { CLOUD_TEMPLATES, F, SSH_FILES } from "../layout.ts";
import { readTemplateText, templateNames } from "../vm/templates.ts";
import { join } from "../os/path.ts";
import { hmpSession } from "../qemu/hmp.ts";
import { withVmdirLock, withVmLock } from "../vm/lock.ts";

/** What a change did. */
export interface PortChange {
  rule: PortRule;
  /** Whether it was applied to the running QEMU too. */
  live: boolean;
  /** Set when the `net-user-fwd` template was added for the forwards (QEMU's default NIC). */
  templateAdded?: string;
}

/**
 * Makes sure a template carries the forwards of VM `name` (lib/vm/ports.ts
 * forwardCarrier): adds `net-user-fwd` with QEMU's default NIC when the VM
 * has no network options; returns its name when it did. Throws UsageError
 * for a VM with a network of its own that does not take them. Reads
 * `<dir>/templates/*`; may write `<dir>/templates/net-user-fwd`.
 */
function ensureCarrier(name: string, dir: string): string | undefined {
  const tdir = join(dir, F.templates);
  const texts = new Map(templateNames(tdir).map((t) => [t, readTemplateText(dir, t) ?? ""]));
  const { carrier, template } = forwardCarrier(texts);
  if (carrier === "template") return undefined;
  if (carrier === "own-network") {
    throw new UsageError(
      `VM "${name}" has a network of its own ("${F.templates}/${template}") that does not take ` +
        `the forwards of "${F.ports}": add ",id=${NETDEV_ID}$${HOSTFWD_VAR}" to its user-mode -nic or ` +
        "-netdev option, or remove it and add the forward again (vm then adds " +
        `"${CLOUD_TEMPLATES.net}")`,
    );
  }
  writeFileAtomic(join(tdir, CLOUD_TEMPLATES.net), DEFAULT_NIC_TEMPLATE, 0o600);
  return CLOUD_TEMPLATES.net;
}

/** Sends one HMP command to VM `name` and returns QEMU's answer (without echo and prompt). */
export async function hmpCommand(name: string, dir: string, command: string): Promise<string> {
  const conn = await connectVmSocket(name, dir, "monitor");
  let text = "";
  async function* one() {
    yield command;
  }
  await hmpSession(conn, name, one(), (t) => {
    text += t;
    return Promise.resolve();
  });
  return text;
}

/** Rewrites known_hosts when the SSH forward moved (VMs made with --image have one). */
function followSsh(dir: string, before: PortRule[], after: PortRule[]): void {
  const a = sshRule(before)?.hostPort;
  const b = sshRule(after)?.hostPort;
  if (b !== undefined && a !== b && exists(join(dir, SSH_FILES.hostKeyPub))) {
    writeKnownHosts(dir, b);
  }
}

/**
 * Adds `rule` to VM `name` (in `dir` of `vmdir`). Throws UsageError when the
 * VM or another VM already forwards that host port, CheckFailedError when a
 * process on the host holds it (named when found) or QEMU refuses it.
 */
export function addPort(
  vmdir: string,
  name: string,
  dir: string,
  rule: PortRule,
): Promise<PortChange> {
  return withVmdirLock(vmdir, () => withVmLock(dir, name, () => addLocked(vmdir, name, dir, rule)));
}

/** addPort, holding the locks. */
async function addLocked(
  vmdir: string,
  name: string,
  dir: string,
  rule: PortRule,
): Promise<PortChange> {
  const rules = readPorts(dir);
  const same = rules.find((r) => sameHostSide(r, rule));
  if (same !== undefined) {
    throw new UsageError(
      `VM "${name}" already forwards host port ${rule.hostPort} (${formatRule(same)})`,
    );
  }
  if (portsInUse(vmdir, name).has(rule.hostPort)) {
    throw new UsageError(
      `Host port ${rule.hostPort} is forwarded by another VM; see "vm port <vm> list"`,
    );
  }
  if (!canBind(rule.proto, rule.hostAddr, rule.hostPort)) {
    throw new CheckFailedError(
      `Host port ${rule.hostAddr}:${rule.hostPort} (${rule.proto}) is in use by ${
        holderText(rule)
      }; ` +
        `choose another port`,
    );
  }
  const templateAdded = ensureCarrier(name, dir);
  // A template added now takes effect at the next start: the running QEMU has no netdev vmnet.
  const live = running(dir) !== undefined && templateAdded === undefined;
  if (live) {
    const answer = (await hmpCommand(name, dir, hmpAdd(rule))).trim();
    if (answer !== "") {
      throw new CheckFailedError(`QEMU refused the forward ${formatRule(rule)}: ${answer}`);
    }
  }
  const next = [...rules, rule];
  writePorts(dir, next);
  followSsh(dir, rules, next);
  return { rule, live, ...(templateAdded === undefined ? {} : { templateAdded }) };
}

/**
 * Removes the forward of host port `hostPort` (of `proto` when given) from
 * VM `name`. Throws UsageError when there is none, CheckFailedError when the
 * running QEMU does not remove it.
 */
export function removePort(
  name: string,
  dir: string,
  hostPort: number,
  proto?: "tcp" | "udp",
): Promise<PortChange> {
  return withVmLock(dir, name, () => removeLocked(name, dir, hostPort, proto));
}

/** removePort, holding the VM's lock. */
async function removeLocked(
  name: string,
  dir: string,
  hostPort: number,
  proto?: "tcp" | "udp",
): Promise<PortChange> {
  const rules = readPorts(dir);
  const rule = rules.find((r) =>
    r.hostPort === hostPort && (proto === undefined || r.proto === proto)
  );
  if (rule === undefined) {
    throw new UsageError(
      `VM "${name}" forwards no host port ${hostPort}; see "vm port ${name} list"`,
    );
  }
  const live = running(dir) !== undefined;
  if (live) {
    const answer = (await hmpCommand(name, dir, hmpRemove(rule))).trim();
    if (!/removed/.test(answer)) {
      throw new CheckFailedError(
        `QEMU did not remove the forward ${formatRule(rule)}: ${answer || "no answer"}`,
      );
    }
  }
  writePorts(dir, rules.filter((r) => r !== rule));
  return { rule, live };
}
