/**
 * A VM's network as libvirt `<interface>` elements: `-nic` and `-netdev`
 * with its `-device`, user-mode (`type='user'`), bridge (`type='bridge'`)
 * or tap (`type='ethernet'`), with the VM's MAC address and NIC model. The
 * ports of the VM's `ports` file go on the first user-mode network as QEMU's
 * own `hostfwd=`, as under vm, in `<qemu:commandline>`: libvirt has forwards
 * in XML only with its passt backend, which libvirt 9.0 (Debian 12) refuses.
 * QEMU's default NIC (a user-mode e1000) is written when the arguments name
 * no network and no `-nodefaults` (as `-nic user` with the forwards when
 * there are ports). What has no XML form (hostfwd, other user-mode options,
 * legacy `-net`) is left to `<qemu:commandline>`. Pure: no I/O. Area lib/export, at the level of actions.
 * @module
 */

import { el, type XmlElement } from "./xml.ts";
import {
  leadWord,
  madeGroup,
  type OptionGroup,
  optsOf,
  optWithout,
  withoutLead,
} from "./qemu_options.ts";
import { type LibvirtCtx, open, take } from "./libvirt_ctx.ts";
import { usersOf } from "./qemu_machine.ts";
import { joinOpts, optGet, type OptItem, parseOpts } from "../qemu/opt_list.ts";
import { hostfwdOptions, NETDEV_ID } from "../vm/ports.ts";
import { formatIp } from "../net/subnet.ts";

/** NIC models as libvirt names them. */
const MODELS: Record<string, string> = {
  "virtio-net-pci": "virtio",
  "virtio-net": "virtio",
  virtio: "virtio",
  e1000: "e1000",
  "e1000-82540em": "e1000",
  e1000e: "e1000e",
  rtl8139: "rtl8139",
  "i82559er": "i82559er",
  pcnet: "pcnet",
  ne2k_pci: "ne2k_pci",
  vmxnet3: "vmxnet3",
};

/** Backend options each type may have for an XML form (besides type and id). */
const BACKEND_KEYS: Record<string, string[]> = {
  user: [],
  bridge: ["br"],
  tap: ["ifname", "script", "downscript"],
};

/** The interface element, or undefined when the backend options have no XML form. Pure. */
function iface(
  backend: OptItem[],
  model: string | undefined,
  mac: string | undefined,
): XmlElement | undefined {
  const type = leadWord(backend);
  const allowed = type === undefined ? undefined : BACKEND_KEYS[type];
  const rest = withoutLead(backend, ["id", "type", "model", "mac"]);
  if (allowed === undefined || rest.some((o) => !allowed.includes(o.key))) return undefined;
  if (type === "tap" && ["script", "downscript"].some((k) => (optGet(rest, k) ?? "no") !== "no")) {
    return undefined;
  }
  const libvirtModel = model === undefined ? "e1000" : MODELS[model];
  if (libvirtModel === undefined) return undefined;
  const source = type === "bridge"
    ? el("source", { bridge: optGet(rest, "br") ?? "br0" })
    : undefined;
  const target = type === "tap"
    ? el("target", { dev: optGet(rest, "ifname"), managed: "no" })
    : undefined;
  return el(
    "interface",
    { type: type === "tap" ? "ethernet" : type },
    mac === undefined ? undefined : el("mac", { address: mac.toLowerCase() }),
    source,
    target,
    el("model", { type: libvirtModel }),
  );
}

/** `-nic TYPE,…,model=M,mac=X`. */
function mapNic(ctx: LibvirtCtx, g: OptionGroup): void {
  const opts = optsOf(g);
  if (leadWord(opts) === "none") return take(ctx, g);
  const x = iface(opts, optGet(opts, "model"), optGet(opts, "mac"));
  if (x === undefined) return;
  take(ctx, g);
  ctx.devices.push(x);
}

/** `-netdev TYPE,id=N,…` with its one `-device MODEL,netdev=N,mac=X`. */
function mapNetdev(ctx: LibvirtCtx, g: OptionGroup): void {
  const opts = optsOf(g);
  const id = optGet(opts, "id");
  const devs = id === undefined ? [] : usersOf(ctx.groups, "netdev", id);
  const dev = devs[0];
  if (dev === undefined || devs.length !== 1) return;
  const devOpts = optsOf(dev);
  const extra = withoutLead(devOpts, ["driver", "netdev", "mac", "id"]);
  const x = extra.length > 0
    ? undefined
    : iface(opts, leadWord(devOpts, "driver"), optGet(devOpts, "mac"));
  if (x === undefined) return;
  take(ctx, g, dev);
  ctx.devices.push(x);
}

/** Option `opt` with value `value` in place of `g`, keeping its template and line. Pure. */
function instead(g: OptionGroup, opt: string, value: string): OptionGroup {
  const at = { file: g.word.file, line: g.word.line };
  return { opt, word: { value: opt, ...at }, value: { value, ...at } };
}

/**
 * The NIC of a network passed through, as a JSON `-device`: QEMU creates
 * JSON devices after the legacy ones, as libvirt's own are (JSON, at the PCI
 * slots libvirt chose), so it takes a free slot instead of one of theirs.
 */
function nicDevice(from: OptionGroup, props: Record<string, string | undefined>): OptionGroup {
  return instead(from, "-device", JSON.stringify(props));
}

/** The NIC model QEMU's machine has by default (its default NIC, `-nic` without model). Pure. */
function defaultModel(ctx: LibvirtCtx): string {
  if (ctx.model.arch !== "x86_64") return "virtio-net-pci";
  return ctx.q35 ? "e1000e" : "e1000";
}

/**
 * The one `-device` of netdev `id` as a JSON `-device` (taken), or undefined
 * (left as it is) when it has options besides driver, netdev and mac.
 */
function netdevNic(ctx: LibvirtCtx, id: string): OptionGroup | undefined {
  const devs = usersOf(ctx.groups, "netdev", id);
  const dev = devs[0];
  const opts = dev === undefined ? [] : optsOf(dev);
  if (
    dev === undefined || devs.length > 1 || withoutLead(opts, ["driver", "netdev", "mac"]).length
  ) {
    return undefined;
  }
  take(ctx, dev);
  return nicDevice(dev, { driver: leadWord(opts, "driver"), netdev: id, mac: optGet(opts, "mac") });
}

/**
 * Puts the ports file's forwards, as `hostfwd=` options, on the first
 * user-mode `-nic`/`-netdev`, or on QEMU's default NIC when `defaultNic`;
 * that network goes to `<qemu:commandline>` as a `-netdev` with its NIC (a
 * JSON `-device`, see nicDevice). Returns whether it did.
 */
function forwardPorts(ctx: LibvirtCtx, defaultNic: boolean): boolean {
  if (ctx.model.ports.length === 0) return false;
  const fwd = hostfwdOptions(ctx.model.ports);
  const user = open(ctx, "-nic", "-netdev").find((g) => leadWord(optsOf(g)) === "user");
  if (user === undefined && !defaultNic) {
    ctx.notes.push("ports: no user-mode interface to forward them on; not exported");
    return false;
  }
  const opts = user === undefined ? parseOpts("user") : optsOf(user);
  const id = optGet(opts, "id") ?? NETDEV_ID;
  const netdev = optWithout(opts, ["id", "model", "mac"]);
  const at = user ?? madeGroup("-netdev");
  ctx.extra.push(instead(at, "-netdev", `${joinOpts(netdev)},id=${id}${fwd}`));
  take(ctx, user);
  const nic = user?.opt === "-netdev" ? netdevNic(ctx, id) : nicDevice(at, {
    driver: optGet(opts, "model") ?? defaultModel(ctx),
    netdev: id,
    mac: optGet(opts, "mac"),
  });
  if (nic !== undefined) ctx.extra.push(nic);
  ctx.notes.push(
    "ports: forwarded by QEMU itself (hostfwd= in <qemu:commandline>, as under vm): " +
      "libvirt has no XML form for them but its passt backend",
  );
  return true;
}

/**
 * The VM's NICs on private networks and bridges (its `networks` file): a
 * bridge is `<interface type='bridge'>`; a private network of vm's is a
 * libvirt `<network>` of the same name (`type='network'`), which must be
 * defined there (its DHCP then gives the addresses, not vm's switch).
 */
function mapAttachments(ctx: LibvirtCtx): void {
  for (const a of ctx.model.attachments) {
    const source = a.kind === "net" ? { network: a.network } : { bridge: a.bridge };
    ctx.devices.push(el(
      "interface",
      { type: a.kind === "net" ? "network" : "bridge" },
      el("mac", { address: a.mac }),
      el("source", source),
      el("model", { type: "virtio" }),
    ));
    if (a.kind === "net") {
      ctx.notes.push(
        `network "${a.network}": a libvirt network of that name must exist (virsh net-define); ` +
          `its DHCP gives the address (${a.mac} had ${formatIp(a.ip)} under vm)`,
      );
    }
  }
}

/** Maps the VM's network (see the module doc). */
export function mapNetwork(ctx: LibvirtCtx): void {
  const any = ctx.model.attachments.length > 0 ||
    ctx.groups.some((g) => ["-nic", "-netdev", "-net"].includes(g.opt));
  const defaultNic = !any && !ctx.groups.some((g) => g.opt === "-nodefaults");
  const forwarded = forwardPorts(ctx, defaultNic);
  for (const g of open(ctx, "-nic")) mapNic(ctx, g);
  for (const g of open(ctx, "-netdev")) mapNetdev(ctx, g);
  if (defaultNic && !forwarded) {
    ctx.devices.push(el("interface", { type: "user" }, el("model", { type: "e1000" })));
    ctx.notes.push("network: QEMU's default NIC (user-mode, e1000) written out");
  }
  mapAttachments(ctx);
}
