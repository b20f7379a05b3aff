/**
 * `vm export libvirt`: a libvirt domain (XML) from a VM: `type='kvm'` or
 * `'qemu'` from the accelerator, name, a UUID (the VM's `-uuid`, else one
 * derived from its directory so a second `--define` updates the domain),
 * memory, vCPUs and topology, machine, kernel/initrd/cmdline or boot order,
 * CPU model, clock, `<on_poweroff>destroy</on_poweroff>` (QEMU quits on a
 * guest power-off, as under vm), reboot as `-no-reboot` says, the VM's
 * `wait` in `<metadata>` (read back by `vm import libvirt`), and the devices
 * of libvirt_disks.ts, libvirt_net.ts and libvirt_console.ts. Every argument
 * with no XML form goes into `<qemu:commandline>` (paths made absolute),
 * never dropped; they are returned so the caller can list them.
 * Pure but `domainUuid` (hashing). Area lib/export, at the level of actions.
 * @module
 */

import { el, xmlDocument, type XmlElement } from "./xml.ts";
import { parseWholeSeconds } from "../text/units.ts";
import {
  groupOptions,
  groupWords,
  madeGroup,
  type OptionGroup,
  optsOf,
  optWithout,
  rewritePaths,
} from "./qemu_options.ts";
import { acceleratorOf, machineTypeOf, memoryOf, smpOf } from "./qemu_machine.ts";
import { abs, type LibvirtCtx, open, take } from "./libvirt_ctx.ts";
import { bootOrder, mapDisks } from "./libvirt_disks.ts";
import { mapNetwork } from "./libvirt_net.ts";
import { mapConsoles } from "./libvirt_console.ts";
import type { VmModel } from "./vm_model.ts";
import { joinOpts, optGet } from "../qemu/opt_list.ts";
import { toHex } from "../text/bytes.ts";

/** libvirt's namespace for `<qemu:commandline>`. */
export const QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0";
/** Our namespace in `<metadata>`: `<vm:vm wait='10'/>`. */
export const VM_NS = "https://runit-vm.invalid/xmlns/vm/1";

/** The domain and what it could not say in XML. */
export interface LibvirtDomain {
  xml: string;
  /** Arguments passed through `<qemu:commandline>`, with their template and line. */
  commandline: OptionGroup[];
  /** Things mapped approximately (QEMU defaults written out, passt for ports). */
  notes: string[];
}

/** A UUID derived from `text` (its sha256, with version 4 and variant bits). */
export async function domainUuid(text: string): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x40;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const hex = toHex(h.subarray(0, 16));
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-` +
    hex.slice(20, 32);
}

/** `<os>`: type, machine, kernel, initrd, cmdline, dtb, loader, or boot order. */
function mapOs(ctx: LibvirtCtx): XmlElement {
  const machine = machineTypeOf(ctx.groups);
  const one = (opt: string) => {
    const g = open(ctx, opt).at(-1);
    take(ctx, ...open(ctx, opt));
    return g?.value?.value;
  };
  const kernel = one("-kernel");
  const initrd = one("-initrd");
  const cmdline = one("-append");
  const dtb = one("-dtb");
  const bios = one("-bios");
  const boot = open(ctx, "-boot").at(-1);
  const order = kernel === undefined && boot !== undefined ? bootOrder(boot) : undefined;
  if (order !== undefined) take(ctx, boot);
  return el(
    "os",
    {},
    el("type", { arch: ctx.model.arch, machine }, "hvm"),
    bios === undefined ? undefined : el("loader", { type: "rom" }, abs(ctx, bios)),
    kernel === undefined ? undefined : el("kernel", {}, abs(ctx, kernel)),
    initrd === undefined ? undefined : el("initrd", {}, abs(ctx, initrd)),
    cmdline === undefined ? undefined : el("cmdline", {}, cmdline),
    dtb === undefined ? undefined : el("dtb", {}, abs(ctx, dtb)),
    ...(order ?? []),
  );
}

/** `-machine` beyond its type and accel goes on to the command line (QEMU merges them). */
function mapMachine(ctx: LibvirtCtx): void {
  for (const g of open(ctx, "-machine", "-M", "-accel", "-enable-kvm")) {
    take(ctx, g);
    if (g.opt !== "-machine" && g.opt !== "-M") continue;
    const rest = optWithout(optsOf(g), ["type", "accel"]).filter((o, i) => !(i === 0 && o.bare));
    if (rest.length > 0) ctx.extra.push({ ...madeGroup("-machine", joinOpts(rest)), word: g.word });
  }
}

/** `<cpu>`: `-cpu host` as host-passthrough, a plain model as custom; the -smp topology. */
function mapCpu(ctx: LibvirtCtx): XmlElement | undefined {
  const smp = smpOf(ctx.groups);
  const topo = smp.topology && smp.sockets * smp.cores * smp.threads === smp.cpus
    ? el("topology", { sockets: smp.sockets, cores: smp.cores, threads: smp.threads })
    : undefined;
  if (topo !== undefined || !smp.topology) take(ctx, ...open(ctx, "-smp"));
  const g = open(ctx, "-cpu").at(-1);
  const model = g?.value?.value;
  if (model === "host") {
    take(ctx, g);
    return el("cpu", { mode: "host-passthrough" }, topo);
  }
  if (model !== undefined && /^[A-Za-z0-9_.-]+$/.test(model)) {
    take(ctx, g);
    return el("cpu", { mode: "custom", match: "exact" }, el("model", {}, model), topo);
  }
  return topo === undefined ? undefined : el("cpu", {}, topo);
}

/** `<clock>` from `-rtc base=utc|localtime` (QEMU's default utc). */
function mapClock(ctx: LibvirtCtx): XmlElement {
  let offset = "utc";
  for (const g of open(ctx, "-rtc")) {
    const opts = optsOf(g);
    const base = optGet(opts, "base");
    if (opts.length !== 1 || (base !== "utc" && base !== "localtime")) continue;
    take(ctx, g);
    offset = base;
  }
  return el("clock", { offset });
}

/** The arguments left for `<qemu:commandline>`, in order, their paths made absolute. */
function leftovers(ctx: LibvirtCtx): OptionGroup[] {
  const rest = ctx.groups.filter((g) => !ctx.taken.has(g)).concat(ctx.extra);
  return rest.map((g) => rewritePaths(g, (p) => abs(ctx, p)));
}

/**
 * The libvirt domain of `model` (see the module doc). `uuid` is used unless
 * the VM gives `-uuid`. Pure; throws UsageError for an unreadable -m/-smp.
 */
export function libvirtDomain(model: VmModel, uuid: string): LibvirtDomain {
  const groups = groupOptions(model.args);
  const ctx: LibvirtCtx = {
    model,
    groups,
    taken: new Set(),
    extra: [],
    devices: [],
    targets: new Set(),
    q35: /q35/.test(machineTypeOf(groups) ?? ""),
    notes: [],
  };
  const accel = acceleratorOf(groups);
  const memory = memoryOf(groups);
  const vcpus = smpOf(groups).cpus;
  take(ctx, ...open(ctx, "-m", "-name", "-nodefaults"));
  const ownUuid = open(ctx, "-uuid").at(-1)?.value?.value;
  take(ctx, ...open(ctx, "-uuid"));
  const noReboot = open(ctx, "-no-reboot").length > 0;
  take(ctx, ...open(ctx, "-no-reboot"));
  const noAcpi = groups.some((g) =>
    g.opt === "-no-acpi" || (g.opt === "-machine" && optGet(optsOf(g), "acpi") === "off")
  );
  const os = mapOs(ctx);
  mapMachine(ctx);
  const cpu = mapCpu(ctx);
  const clock = mapClock(ctx);
  mapDisks(ctx);
  mapNetwork(ctx);
  mapConsoles(ctx);
  const shared = mapShares(ctx);
  const commandline = leftovers(ctx);
  const root = el(
    "domain",
    { type: accel === "kvm" ? "kvm" : "qemu", "xmlns:qemu": QEMU_NS },
    el("name", {}, model.name),
    el("uuid", {}, ownUuid ?? uuid),
    el("metadata", {}, el("vm:vm", { "xmlns:vm": VM_NS, wait: model.wait })),
    el("memory", { unit: "MiB" }, String(memory)),
    shared
      ? el("memoryBacking", {}, el("source", { type: "memfd" }), el("access", { mode: "shared" }))
      : undefined,
    el("vcpu", {}, String(vcpus)),
    os,
    noAcpi ? undefined : el("features", {}, el("acpi")),
    cpu,
    clock,
    el("on_poweroff", {}, "destroy"),
    el("on_reboot", {}, noReboot ? "destroy" : "restart"),
    el("on_crash", {}, "destroy"),
    el("devices", {}, ...ctx.devices),
    commandline.length === 0 ? undefined : el(
      "qemu:commandline",
      {},
      ...commandline.flatMap(groupWords).map((value) => el("qemu:arg", { value })),
    ),
  );
  return { xml: xmlDocument(root), commandline, notes: ctx.notes };
}

/**
 * The VM's shared folders as virtiofs `<filesystem>` devices (libvirt runs
 * a virtiofsd per share itself); returns whether there are any: the domain's
 * memory must then be shared (`<memoryBacking>` memfd). Pure.
 */
function mapShares(ctx: LibvirtCtx): boolean {
  const shares = ctx.model.shares ?? [];
  for (const s of shares) {
    ctx.devices.push(el(
      "filesystem",
      { type: "mount", accessmode: "passthrough" },
      el("driver", { type: "virtiofs" }),
      el("source", { dir: s.path }),
      el("target", { dir: s.tag }),
      s.readonly ? el("readonly") : undefined,
    ));
    if (s.readonly) {
      ctx.notes.push(
        `share "${s.tag}" is read-only (<readonly/>): a libvirt whose virtiofsd has no ` +
          "read-only mode refuses the domain rather than share it writable",
      );
    }
  }
  return shares.length > 0;
}

/** The VM's wait from a domain's `<metadata>` (ours), or undefined. Pure. */
export function waitFromMetadata(domain: XmlElement): number | undefined {
  const meta = domain.children.find((c): c is XmlElement =>
    typeof c !== "string" && c.name === "metadata"
  );
  for (const c of meta?.children ?? []) {
    if (typeof c === "string") continue;
    const ns = Object.entries(c.attrs).find(([k, v]) => k.startsWith("xmlns") && v === VM_NS);
    const wait = c.attrs.wait === undefined ? undefined : parseWholeSeconds(c.attrs.wait);
    if (ns !== undefined && wait !== undefined) return wait; // 0…86400, else the default
  }
  return undefined;
}
