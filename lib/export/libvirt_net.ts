/**
 * A VM's network as libvirt `<interface>` elements: `-nic` and `-netdev`
 * with its `-device`, user-mode (`type='user'`), bridge (`type='bridge'`)
 * or tap (`type='ethernet'`), with the VM's MAC address and NIC model. The
 * ports of the VM's `ports` file become `<portForward>` on the first
 * user-mode interface, which needs libvirt's passt backend (the only
 * user-mode backend with forwards in XML). QEMU's default NIC (a user-mode
 * e1000) is written when the arguments name no network and no
 * `-nodefaults`. What has no XML form (hostfwd, other user-mode options,
 * legacy `-net`) is left to `<qemu:commandline>`. Pure: no I/O. Area lib/export, at the level of actions.
 * @module
 */

import { el, type XmlElement } from "./xml.ts";
import { leadWord, type OptionGroup, optsOf, withoutLead } from "./qemu_options.ts";
import { type LibvirtCtx, open, take } from "./libvirt_ctx.ts";
import { usersOf } from "./qemu_machine.ts";
import { optGet, type OptItem } from "../qemu/opt_list.ts";

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

/** Adds the ports file's forwards to the first user-mode interface (passt backend). */
function mapPorts(ctx: LibvirtCtx): void {
  if (ctx.model.ports.length === 0) return;
  const user = ctx.devices.find((d) => d.name === "interface" && d.attrs.type === "user");
  if (user === undefined) {
    ctx.notes.push("ports: no user-mode interface to forward them on; not exported");
    return;
  }
  user.children.splice(user.children.length - 1, 0, el("backend", { type: "passt" }));
  for (const p of ctx.model.ports) {
    user.children.push(
      el(
        "portForward",
        { proto: p.proto, address: p.hostAddr },
        el("range", { start: p.hostPort, to: p.guestPort }),
      ),
    );
  }
  ctx.notes.push("ports: forwarded with libvirt's passt backend (install passt on the host)");
}

/** Maps the VM's network (see the module doc). */
export function mapNetwork(ctx: LibvirtCtx): void {
  const any = ctx.groups.some((g) => ["-nic", "-netdev", "-net"].includes(g.opt));
  for (const g of open(ctx, "-nic")) mapNic(ctx, g);
  for (const g of open(ctx, "-netdev")) mapNetdev(ctx, g);
  if (!any && !ctx.groups.some((g) => g.opt === "-nodefaults")) {
    ctx.devices.push(el("interface", { type: "user" }, el("model", { type: "e1000" })));
    ctx.notes.push("network: QEMU's default NIC (user-mode, e1000) written out");
  }
  mapPorts(ctx);
}
