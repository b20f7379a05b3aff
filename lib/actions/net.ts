/**
 * `vm net`: private networks (create, list, rm) and a VM's NICs on them or
 * on host bridges (attach, detach). A network is a runit service directory
 * `$VMDIR/@NAME` (lib/vm/network.ts), assembled under a dot-name and renamed
 * into place, so vmd starts its switch only once it is whole. Everything
 * is checked before anything is written (one line, exit 100 or 111, nothing
 * half made); changes hold the VMDIR's lock (and the VM's), so two attaches
 * never get one address. A VM's changes take effect at its next start.
 * Writes `$VMDIR/@NAME/`, `<vm>/networks`, `<vm>/templates/net-user-fwd`.
 * @module
 */

import { join, relative } from "../os/path.ts";
import { CheckFailedError, SystemError, UsageError } from "../errors.ts";
import { CLOUD_TEMPLATES, DEFAULT_VM, F, NET } from "../layout.ts";
import { exists, makeDir, removeIfExists, removeTree, writeFileAtomic } from "../os/fs.ts";
import { pollUntil } from "../os/poll.ts";
import { control } from "../runit/control.ts";
import { isSupervised, readStatus } from "../runit/status.ts";
import { findRunsvdir } from "../qemu/processes.ts";
import { defaultDir, requireVm } from "../vm/dir.ts";
import { withVmdirLock, withVmLock } from "../vm/lock.ts";
import { randomMac } from "../vm/mac.ts";
import { DEFAULT_NIC_TEMPLATE, forwardCarrier } from "../vm/ports.ts";
import { readTemplateText, templateNames } from "../vm/templates.ts";
import { bridgeProblem, isBridge } from "../net/bridge.ts";
import {
  allAttachments,
  type Attachment,
  checkNetworkName,
  formatAttachments,
  formatNetworkConfig,
  isInterfaceName,
  listNetworks,
  type Member,
  membersOf,
  type Network,
  networkDir,
  readAttachments,
  requireNetwork,
} from "../vm/network.ts";
import {
  formatIp,
  formatSubnet,
  freeIp,
  freeSubnet,
  guestIpProblem,
  hostRoutes,
  overlaps,
  parseIp,
  parseSubnet,
} from "../net/subnet.ts";
import { macKey } from "../net/dhcp.ts";

/** What createNetwork made. */
export interface Created {
  net: Network;
  /** Whether a vmd (runsvdir) supervises VMDIR, which starts the switch. */
  vmdRunning: boolean;
}

/**
 * Creates network `name` with `subnetText` (CIDR), or a free /24 of 10/8
 * that clashes with no other network and no route of the host. Throws
 * UsageError for a bad name or subnet, an existing network, an overlap.
 */
export function createNetwork(
  vmdir: string,
  name: string,
  subnetText?: string,
): Promise<Created> {
  checkNetworkName(name);
  const defaults = defaultDir(vmdir);
  if (!exists(join(defaults, NET.run))) {
    throw new SystemError(
      `"${join(defaults, NET.run)}" is missing (the run script of networks); ` +
        `run ./install.sh of this vm again to set up "${DEFAULT_VM}"`,
    );
  }
  return withVmdirLock(vmdir, () => {
    const final = networkDir(vmdir, name);
    if (exists(final)) throw new UsageError(`Network "${name}" exists already (${final})`);
    const nets = listNetworks(vmdir);
    const routes = hostRoutes();
    let subnet;
    if (subnetText !== undefined) {
      const s = parseSubnet(subnetText);
      if (typeof s === "string") throw new UsageError(`Bad --subnet: ${s}`);
      const other = nets.find((n) => overlaps(n.subnet, s));
      if (other !== undefined) {
        throw new UsageError(
          `Subnet ${formatSubnet(s)} overlaps network "${other.name}" ` +
            `(${formatSubnet(other.subnet)}); choose another --subnet`,
        );
      }
      const route = routes.find((r) => overlaps(r.subnet, s));
      if (route !== undefined) {
        throw new UsageError(
          `Subnet ${formatSubnet(s)} overlaps the host's route ${formatSubnet(route.subnet)} ` +
            `on ${route.iface}; choose another --subnet`,
        );
      }
      subnet = s;
    } else {
      subnet = freeSubnet([...nets.map((n) => n.subnet), ...routes.map((r) => r.subnet)]);
      if (subnet === undefined) throw new CheckFailedError("No free /24 left in 10.0.0.0/8");
    }
    const tmp = join(vmdir, `.net-${name}-${Deno.pid}`);
    try {
      makeDir(tmp);
      makeDir(join(tmp, NET.ports));
      writeFileAtomic(join(tmp, NET.config), formatNetworkConfig(subnet));
      Deno.symlinkSync(relative(tmp, join(defaults, NET.run)), join(tmp, F.run));
      Deno.renameSync(tmp, final);
    } catch (e) {
      removeTree(tmp);
      throw e;
    }
    return { net: { name, dir: final, subnet }, vmdRunning: findRunsvdir(vmdir).length > 0 };
  });
}

/** A network as `vm net list` shows it. */
export interface NetworkInfo extends Network {
  members: Member[];
  /** The switch's state: runsv supervises it and it runs, or not. */
  running: boolean;
}

/** Every network of `vmdir` with its VMs and whether its switch runs. */
export function networkInfos(vmdir: string): NetworkInfo[] {
  const nets = listNetworks(vmdir);
  if (nets.length === 0) return [];
  const { byVm } = allAttachments(vmdir);
  return nets.map((net) => ({
    ...net,
    members: membersOf(byVm, net.name),
    running: switchRunning(net.dir),
  }));
}

/** Whether the switch of the network in `dir` runs (a runsv supervises it, with a PID). */
export function switchRunning(dir: string): boolean {
  return isSupervised(dir) && (readStatus(dir)?.pid ?? 0) > 0;
}

/** How long `vm net rm` waits for the network's runsv to exit. */
const RUNSV_EXIT_MS = 10_000;

/**
 * Removes network `name`: refused (exit 1) while a VM is attached, naming
 * them. Its runsv is told to exit (so the switch stops) and the directory
 * goes. Throws UsageError for an unknown network.
 */
export function removeNetwork(vmdir: string, name: string): Promise<void> {
  return withVmdirLock(vmdir, async () => {
    const net = requireNetwork(vmdir, name);
    const members = membersOf(allAttachments(vmdir).byVm, name);
    if (members.length > 0) {
      const vms = [...new Set(members.map((m) => m.vm))];
      throw new CheckFailedError(
        `Network "${name}" is used by ${vms.map((v) => `"${v}"`).join(", ")}; detach first: ` +
          `vm net detach ${vms[0]} ${name}`,
      );
    }
    const gone = join(vmdir, `.net-rm-${name}-${Deno.pid}`);
    Deno.renameSync(net.dir, gone);
    if (isSupervised(gone)) {
      try {
        control(gone, "x");
        control(gone, "d");
      } catch (e) {
        if (!(e instanceof SystemError)) throw e;
      }
      if (!await pollUntil(() => !isSupervised(gone), RUNSV_EXIT_MS)) {
        throw new SystemError(
          `The runsv of network "${name}" did not exit within ${RUNSV_EXIT_MS / 1000} s; ` +
            `it was moved to "${gone}": remove it once that runsv is gone`,
        );
      }
    }
    removeTree(gone);
  });
}

/** What an attach did. */
export interface Attached {
  attachment: Attachment;
  /** Set when the `net-user-fwd` template was added to keep the user-mode NIC. */
  templateAdded?: string;
  /** Whether it was attached already (its address kept, or changed to `--ip`). */
  existed: boolean;
}

/** A MAC not used by any attachment of `vmdir`. */
export function freshMac(byVm: ReadonlyMap<string, Attachment[]>): string {
  const used = new Set([...byVm.values()].flat().map((a) => a.mac));
  for (;;) {
    const mac = randomMac();
    if (!used.has(mac)) return mac;
  }
}

/**
 * Keeps the VM's user-mode NIC (internet, forwards, `vm ssh`): a VM on QEMU's
 * default NIC (no network options) would lose it to the first `-netdev`, so
 * it gets the `net-user-fwd` template (the same card). Returns its name when added.
 */
export function keepUserNic(dir: string): string | undefined {
  const tdir = join(dir, F.templates);
  const texts = new Map(templateNames(tdir).map((t) => [t, readTemplateText(dir, t) ?? ""]));
  if (forwardCarrier(texts).carrier !== "default-nic") return undefined;
  writeFileAtomic(join(tdir, CLOUD_TEMPLATES.net), DEFAULT_NIC_TEMPLATE);
  return CLOUD_TEMPLATES.net;
}

/**
 * The attachment of a VM (`vmName`, whose attachments are `mine`) to network
 * `net`: its address `ipText` when given (in the subnet, not the switch's, not
 * another VM's), else the one it has, else the first free one; its MAC kept.
 * Throws UsageError (exit 100) for a bad or taken address, CheckFailedError
 * for a full network. Pure given `byVm`.
 */
export function planAttach(
  net: Network,
  vmName: string,
  byVm: ReadonlyMap<string, Attachment[]>,
  ipText?: string,
): { attachment: Attachment; existed: boolean } {
  const mine = byVm.get(vmName) ?? [];
  const had = mine.find((a) => a.kind === "net" && a.network === net.name);
  const others = membersOf(new Map([...byVm].filter(([vm]) => vm !== vmName)), net.name);
  let ip: number | undefined;
  if (ipText !== undefined) {
    ip = parseIp(ipText);
    if (ip === undefined) throw new UsageError(`"${ipText}" is not an IPv4 address (--ip)`);
    const problem = guestIpProblem(net.subnet, ip);
    if (problem !== undefined) throw new UsageError(`Bad --ip: ${problem}`);
    const holder = others.find((m) => m.ip === ip);
    if (holder !== undefined) {
      throw new UsageError(
        `Address ${ipText} of network "${net.name}" is taken by VM "${holder.vm}"; ` +
          `choose another --ip, or leave it out for a free one`,
      );
    }
  } else if (had?.kind === "net") ip = had.ip;
  else {
    ip = freeIp(net.subnet, new Set(others.map((m) => m.ip)));
    if (ip === undefined) {
      throw new CheckFailedError(`Network "${net.name}" (${formatSubnet(net.subnet)}) is full`);
    }
  }
  const mac = had?.mac ?? freshMac(byVm);
  return { attachment: { kind: "net", network: net.name, mac, ip }, existed: had !== undefined };
}

/**
 * Attaches VM `vmName` to private network `netName` (`ipText`: its address),
 * or with `bridge` to that host bridge. See planAttach; a bridge must exist
 * and QEMU's helper be allowed to use it (SystemError, exit 111, saying what
 * to configure). Writes `<vm>/networks`, and `net-user-fwd` when the VM had
 * QEMU's default NIC.
 */
export function attach(
  vmdir: string,
  vmName: string,
  target: { network: string; ip?: string } | { bridge: string },
): Promise<Attached> {
  const dir = requireVm(vmdir, vmName);
  if ("bridge" in target) {
    const br = target.bridge;
    if (!isInterfaceName(br)) throw new UsageError(`"${br}" is not an interface name (--bridge)`);
    if (!isBridge(br)) {
      throw new SystemError(
        exists(`/sys/class/net/${br}`)
          ? `Host interface "${br}" is not a bridge; give a bridge (ip -d link show type bridge)`
          : `No bridge "${br}" on this host; create it first (ip link add ${br} type bridge)`,
      );
    }
    const problem = bridgeProblem(br);
    if (problem !== undefined) throw new SystemError(problem);
  } else requireNetwork(vmdir, target.network);
  return withVmdirLock(vmdir, () =>
    withVmLock(dir, vmName, () => {
      const { byVm } = allAttachments(vmdir);
      const mine = readAttachments(dir);
      byVm.set(vmName, mine);
      let planned: { attachment: Attachment; existed: boolean };
      if ("bridge" in target) {
        const had = mine.find((a) => a.kind === "bridge" && a.bridge === target.bridge);
        planned = had !== undefined ? { attachment: had, existed: true } : {
          attachment: { kind: "bridge", bridge: target.bridge, mac: freshMac(byVm) },
          existed: false,
        };
      } else {
        const net = requireNetwork(vmdir, target.network);
        planned = planAttach(net, vmName, byVm, target.ip);
      }
      const a = planned.attachment;
      const same = (b: Attachment) =>
        a.kind === "net"
          ? b.kind === "net" && b.network === a.network
          : b.kind === "bridge" && b.bridge === a.bridge;
      const list = mine.some(same) ? mine.map((b) => same(b) ? a : b) : [...mine, a];
      const templateAdded = keepUserNic(dir);
      writeFileAtomic(join(dir, F.networks), formatAttachments(list));
      return {
        attachment: a,
        existed: planned.existed,
        ...(templateAdded === undefined ? {} : { templateAdded }),
      };
    }));
}

/**
 * Detaches VM `vmName` from network (or bridge) `name`; throws UsageError
 * when it is not attached. Removes the `networks` file with the last one.
 */
export function detach(vmdir: string, vmName: string, name: string): Promise<Attachment> {
  const dir = requireVm(vmdir, vmName);
  return withVmdirLock(vmdir, () =>
    withVmLock(dir, vmName, () => {
      const mine = readAttachments(dir);
      const which = (a: Attachment) => a.kind === "net" ? a.network === name : a.bridge === name;
      const gone = mine.find(which);
      if (gone === undefined) {
        throw new UsageError(`VM "${vmName}" is not attached to "${name}" (vm net list)`);
      }
      const rest = mine.filter((a) => !which(a));
      if (rest.length === 0) removeIfExists(join(dir, F.networks));
      else writeFileAtomic(join(dir, F.networks), formatAttachments(rest));
      if (gone.kind === "net") {
        const key = macKey(gone.mac);
        if (key !== undefined) removeIfExists(join(networkDir(vmdir, name), NET.ports, key));
      }
      return gone;
    }));
}

/** An attachment in words: `lan 10.86.0.2 (52:54:00:…)`, `bridge br0 (52:54:00:…)`. Pure. */
export function attachmentText(a: Attachment): string {
  return a.kind === "net"
    ? `network "${a.network}" ${formatIp(a.ip)} (MAC ${a.mac})`
    : `bridge "${a.bridge}" (MAC ${a.mac})`;
}
