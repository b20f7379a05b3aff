/**
 * The network backends of an imported domain. `virsh domxml-to-native`
 * writes every interface as a tap whose file descriptor libvirt would open
 * (`-netdev {"type":"tap","fd":"28","id":"hostnet0"}`), which cannot work
 * without libvirt; so the backend of each is rebuilt from the domain's
 * `<interface>` (the k-th is `hostnet<k>`): `user` as QEMU user-mode
 * networking, its `<portForward>`s as `hostfwd=`; `bridge` as QEMU's bridge
 * helper (`bridge,br=…`); `ethernet` with a target device as a tap of that
 * name without scripts. A libvirt `network`, macvtap (`direct`) and the rest
 * exist only under libvirt and are refused with what to change.
 * Pure: no I/O. Area lib/export, at the level of actions.
 * @module
 */

import { child, children, type XmlElement } from "./xml.ts";
import { joinOpts, type OptItem } from "../qemu/opt_list.ts";

/** The backend of one interface: a `-netdev` value, or why it cannot be imported. */
export type NetBackend = { netdev: string } | { refuse: string };

function item(key: string, value: string): OptItem {
  return { key, value, bare: false };
}

/** `hostfwd=` items for a user interface's `<portForward>`s. Pure. */
function forwards(iface: XmlElement): OptItem[] {
  const out: OptItem[] = [];
  for (const pf of children(iface, "portForward")) {
    const proto = pf.attrs.proto ?? "tcp";
    const addr = pf.attrs.address ?? "";
    for (const r of children(pf, "range")) {
      const to = r.attrs.to ?? r.attrs.start ?? "";
      out.push(item("hostfwd", `${proto}:${addr}:${r.attrs.start ?? ""}-:${to}`));
    }
  }
  return out;
}

/** The backend for one `<interface>`, with id `hostnet<k>`. Pure. */
function backend(iface: XmlElement, k: number): NetBackend {
  const id = item("id", `hostnet${k}`);
  const type = iface.attrs.type ?? "";
  const mac = child(iface, "mac")?.attrs.address ?? `#${k}`;
  if (type === "user") {
    return { netdev: joinOpts([{ key: "user", value: "on", bare: true }, id, ...forwards(iface)]) };
  }
  const bridge = child(iface, "source")?.attrs.bridge;
  if (type === "bridge" && bridge !== undefined) {
    return {
      netdev: joinOpts([{ key: "bridge", value: "on", bare: true }, item("br", bridge), id]),
    };
  }
  const dev = child(iface, "target")?.attrs.dev;
  if (type === "ethernet" && dev !== undefined) {
    const tap = { key: "tap", value: "on", bare: true };
    return {
      netdev: joinOpts([
        tap,
        item("ifname", dev),
        item("script", "no"),
        item("downscript", "no"),
        id,
      ]),
    };
  }
  const net = child(iface, "source")?.attrs.network;
  const what = net === undefined ? `a "${type}" interface` : `libvirt network "${net}"`;
  return {
    refuse: `Interface ${mac} uses ${what}, which only libvirt runs; change it to type ` +
      `"bridge" (the network's bridge, e.g. virbr0) or "user" with virsh edit, then import again`,
  };
}

/** The backends of a domain's interfaces, in order (`hostnet0`, `hostnet1`…). Pure. */
export function interfaceBackends(domain: XmlElement): NetBackend[] {
  return children(child(domain, "devices"), "interface").map(backend);
}
