/**
 * A VM's consoles as libvirt elements: serial ports (`-serial`, with
 * `-chardev` files and sockets; the VM's console socket in `supervise/` and
 * stdio become a pty, as libvirt runs QEMU without a terminal), graphics
 * (`-display none`/`-nographic`: none; `-vnc` on a port or a unix socket,
 * `-spice`, `-display sdl`), the video card (`-vga`, QEMU's default VGA
 * unless `-nodefaults`), the guest agent's virtio channel, and a USB tablet.
 * QEMU's default serial port is written as a pty unless `-nodefaults`. Pure: no I/O. Area lib/export, at the level of actions.
 * @module
 */

import { el, type XmlElement } from "./xml.ts";
import { leadWord, type OptionGroup, optsOf, withoutLead } from "./qemu_options.ts";
import { abs, type LibvirtCtx, open, take } from "./libvirt_ctx.ts";
import { idOf } from "./qemu_machine.ts";
import { optGet } from "../qemu/opt_list.ts";

const GUEST_AGENT = "org.qemu.guest_agent.0";
const VGA: Record<string, string> = {
  std: "vga",
  cirrus: "cirrus",
  vmware: "vmvga",
  qxl: "qxl",
  virtio: "virtio",
  none: "none",
};

function pty(): [string, XmlElement[]] {
  return ["pty", []];
}

/** Type and children of a `<serial>` for a `-chardev` group, or undefined. Pure. */
function fromChardev(ctx: LibvirtCtx, c: OptionGroup): [string, XmlElement[]] | undefined {
  const opts = optsOf(c);
  const kind = leadWord(opts, "backend");
  const rest = withoutLead(opts, ["id", "backend"]);
  const path = optGet(opts, "path");
  if (
    kind === "file" && path !== undefined && rest.every((o) => ["path", "append"].includes(o.key))
  ) {
    return ["file", [el("source", { path: abs(ctx, path), append: optGet(opts, "append") })]];
  }
  if (kind === "socket" && path !== undefined) {
    if (abs(ctx, path).startsWith(ctx.model.dir + "/supervise/")) return pty();
    return ["unix", [el("source", { mode: "bind", path: abs(ctx, path) })]];
  }
  if (kind === "pty" || kind === "stdio") return pty();
  if (kind === "null") return ["null", []];
  return undefined;
}

/** Type and children of a `<serial>` for one `-serial` value, with the chardev it uses. */
function serialOf(
  ctx: LibvirtCtx,
  v: string,
): { x?: [string, XmlElement[]]; chardev?: OptionGroup } {
  const value = v.startsWith("mon:") ? v.slice(4) : v;
  if (value.startsWith("chardev:")) {
    const chardev = ctx.groups.find((g) => g.opt === "-chardev" && idOf(g) === value.slice(8));
    const x = chardev === undefined ? undefined : fromChardev(ctx, chardev);
    return x === undefined ? {} : { x, ...(chardev ? { chardev } : {}) };
  }
  const m = /^(unix|file):([^,]*)(.*)$/.exec(value);
  if (m !== null && m[1] === "unix") {
    const p = abs(ctx, m[2] ?? "");
    if (p.startsWith(ctx.model.dir + "/supervise/")) return { x: pty() };
    return { x: ["unix", [el("source", { mode: "bind", path: p })]] };
  }
  if (m !== null && (m[3] ?? "") === "") {
    return { x: ["file", [el("source", { path: abs(ctx, m[2] ?? "") })]] };
  }
  if (["stdio", "pty", "vc"].includes(value) || value.startsWith("vc:")) return { x: pty() };
  if (value === "null") return { x: ["null", []] };
  if (value.startsWith("/dev/")) return { x: ["dev", [el("source", { path: value })]] };
  return {};
}

/** Maps `-serial` options (and QEMU's default serial port) to `<serial>` elements. */
function mapSerial(ctx: LibvirtCtx): void {
  const serials = open(ctx, "-serial");
  let port = 0;
  for (const g of serials) {
    if (g.value?.value === "none") {
      take(ctx, g);
      continue;
    }
    const { x, chardev } = serialOf(ctx, g.value?.value ?? "");
    if (x === undefined) continue;
    take(ctx, g, chardev);
    const [type, kids] = x;
    ctx.devices.push(el("serial", { type }, ...kids, el("target", { port: port++ })));
  }
  const nodefaults = ctx.groups.some((g) => g.opt === "-nodefaults");
  if (serials.length === 0 && !nodefaults) {
    ctx.devices.push(el("serial", { type: "pty" }, el("target", { port: 0 })));
  }
}

/** Maps the guest agent's `-device virtserialport,name=org.qemu.guest_agent.0` to a channel. */
function mapGuestAgent(ctx: LibvirtCtx): void {
  for (const g of open(ctx, "-device")) {
    const opts = optsOf(g);
    if (optGet(opts, "name") !== GUEST_AGENT) continue;
    const chardev = ctx.groups.find((c) =>
      c.opt === "-chardev" && idOf(c) === optGet(opts, "chardev")
    );
    const buses = open(ctx, "-device").filter((d) =>
      /^virtio-serial/.test(leadWord(optsOf(d), "driver") ?? "")
    );
    take(ctx, g, chardev, buses.length === 1 ? buses[0] : undefined);
    ctx.devices.push(
      el("channel", { type: "unix" }, el("target", { type: "virtio", name: GUEST_AGENT })),
    );
  }
}

/**
 * `<graphics>` for `-vnc [host]:N` or `-vnc unix:PATH`, or undefined when the
 * value says more. A socket in the VM's `supervise/` (the `vnc` template's)
 * becomes one libvirt makes itself: `supervise/` is runit's, and libvirt's
 * QEMU user may not write there (`virsh domdisplay` names the new one).
 */
function vnc(ctx: LibvirtCtx, value: string): XmlElement | undefined {
  const unix = /^unix:([^,]+)$/.exec(value);
  if (unix !== null) {
    const path = abs(ctx, unix[1] ?? "");
    if (!path.startsWith(ctx.model.dir + "/supervise/")) {
      return el("graphics", { type: "vnc" }, el("listen", { type: "socket", socket: path }));
    }
    ctx.notes.push(
      `display: the VNC socket "${unix[1]}" became one libvirt makes ` +
        `(virsh domdisplay ${ctx.model.name} names it)`,
    );
    return el("graphics", { type: "vnc" }, el("listen", { type: "socket" }));
  }
  const m = /^([^:,]*):([0-9]+)$/.exec(value);
  if (m === null) return undefined;
  return el("graphics", {
    type: "vnc",
    port: 5900 + Number(m[2]),
    autoport: "no",
    listen: m[1] || "0.0.0.0",
  });
}

/** `<graphics>` for `-spice port=N[,addr=A][,disable-ticketing=on]`, or undefined. Pure. */
function spice(g: OptionGroup): XmlElement | undefined {
  const opts = optsOf(g);
  if (opts.some((o) => !["port", "addr", "disable-ticketing"].includes(o.key))) return undefined;
  const port = optGet(opts, "port");
  return el("graphics", {
    type: "spice",
    port,
    autoport: port === undefined ? "yes" : "no",
    listen: optGet(opts, "addr"),
  });
}

/** Maps displays and the video card. */
function mapDisplay(ctx: LibvirtCtx): void {
  const headless = ctx.groups.some((g) =>
    g.opt === "-nographic" || (g.opt === "-display" && leadWord(optsOf(g)) === "none")
  );
  take(ctx, ...open(ctx, "-nographic"));
  for (const g of open(ctx, "-display")) {
    const kind = leadWord(optsOf(g));
    if (kind === "none") take(ctx, g);
    if (kind === "sdl" && optsOf(g).length === 1) {
      take(ctx, g);
      ctx.devices.push(el("graphics", { type: "sdl" }));
    }
  }
  for (const g of open(ctx, "-vnc", "-spice")) {
    const x = g.opt === "-vnc" ? vnc(ctx, g.value?.value ?? "") : spice(g);
    if (x === undefined) continue;
    take(ctx, g);
    ctx.devices.push(x);
  }
  const shown = ctx.groups.some((g) => ["-vnc", "-spice", "-display"].includes(g.opt));
  if (!headless && !shown) {
    ctx.devices.push(el("graphics", { type: "vnc", autoport: "yes", listen: "127.0.0.1" }));
    ctx.notes.push(
      "display: QEMU's default window became VNC on 127.0.0.1 (libvirt has no window)",
    );
  }
  const vga = open(ctx, "-vga").at(-1);
  const nodefaults = ctx.groups.some((g) => g.opt === "-nodefaults");
  const model = vga === undefined ? (nodefaults ? "none" : "vga") : VGA[vga.value?.value ?? ""];
  if (model === undefined) return;
  take(ctx, ...open(ctx, "-vga"));
  ctx.devices.push(el("video", {}, el("model", { type: model })));
}

/** Maps consoles, displays, the guest agent and a USB tablet (see the module doc). */
export function mapConsoles(ctx: LibvirtCtx): void {
  mapSerial(ctx);
  mapGuestAgent(ctx);
  mapDisplay(ctx);
  for (const g of open(ctx, "-device")) {
    if (g.value?.value !== "usb-tablet") continue;
    take(ctx, g);
    ctx.devices.push(el("input", { type: "tablet", bus: "usb" }));
  }
}
