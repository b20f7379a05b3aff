/**
 * From a VM's template arguments to the `config` of Nomad's `qemu` task
 * driver: what the driver adds itself is removed and mapped to a field,
 * everything else is kept in `args`, and what cannot work on a Nomad client
 * is refused naming its template file and line.
 *
 * Read from hashicorp/nomad drivers/qemu/driver.go at commit aa026cc99cfb
 * (main after v1.11.0-rc.1, August 2026), `StartTask`. The driver starts
 * `qemu-system-<emulator>` (default `x86_64`) in the task directory with:
 *   -machine type=<machine_type, default "pc">,accel=<accelerator, default "tcg">
 *   -name <basename of image_path>
 *   -m <resources.memory>M              (refused below 128 or above 4000000 MB)
 *   -drive file=<image_path>,if=<drive_interface, default "ide">,id=image0
 *     (drive_interface one of ide scsi sd mtd floppy pflash virtio none)
 *   -nographic
 *   -monitor unix:<task dir>/qm.sock,server=on,wait=off   when graceful_shutdown (default false)
 *   -chardev socket,path=<task dir>/qa.sock,server=on,wait=off,id=qga0
 *   -device virtio-serial -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0
 *                                                         when guest_agent (default false)
 *   then `args` as given,
 *   -netdev user,id=user.0,hostfwd=tcp::<host>-:<guest>,hostfwd=udp::<host>-:<guest>…
 *   -device virtio-net,netdev=user.0     when the group has a network and port_map entries
 *   -enable-kvm                          when accelerator = "kvm"
 *   -smp <number of reserved cores>      with kvm, when args have no -smp
 * image_path is relative to the task directory (artifacts land in `local/`).
 * Pure: no I/O. Area lib/export, at the level of actions.
 * @module
 */

import { UsageError } from "../errors.ts";
import { F, SEED_FILES } from "../layout.ts";
import { resolveDisk } from "../qemu/drives.ts";
import type { VmModel } from "./vm_model.ts";
import {
  groupOptions,
  groupWords,
  leadWord,
  madeGroup,
  type OptionGroup,
  optsOf,
  optWithout,
  pathsIn,
  rewritePaths,
  shown,
  where,
} from "./qemu_options.ts";
import { acceleratorOf, idOf, machineTypeOf, memoryOf, smpOf, usersOf } from "./qemu_machine.ts";
import { joinOpts, optGet } from "../qemu/opt_list.ts";

/** Where an exported seed lands in the task directory (artifact destination). */
export const TASK_SEED = `local/${SEED_FILES.iso}`;

/** Where the VM's UEFI variable store lands in the task directory (artifact destination). */
export const TASK_EFIVARS = `local/${F.efivars}`;

/** The driver's allowed drive_interface values (allowedDriveInterfaces in driver.go). */
export const DRIVE_INTERFACES = ["ide", "scsi", "sd", "mtd", "floppy", "pflash", "virtio", "none"];

/** The driver's smallest memory in MB (StartTask refuses less). */
export const NOMAD_MEM_MIN_MB = 128;
/** The driver's largest memory in MB (StartTask refuses more). */
export const NOMAD_MEM_MAX_MB = 4_000_000;

/** The qemu driver's `config` and the task's resources, from the arguments. */
export interface NomadQemuConfig {
  accelerator: string;
  machineType?: string;
  driveInterface?: string;
  guestAgent: boolean;
  memoryMb: number;
  cores: number;
  args: string[];
}

/** One argument moved out of `args`, kept with a change, or added: for `--help` and stderr. */
export interface NomadMapping {
  /** `templates/mem:1`, or "" for an added argument. */
  at: string;
  /** The argument as written. */
  arg: string;
  /** What became of it. */
  to: string;
}

const HOST_NETS = new Set(["tap", "bridge", "vde", "vhost-user", "vhost-vdpa", "af-xdp"]);
const HOST_DEVICES = new Set(["vfio-pci", "usb-host", "pci-assign"]);
const GUEST_AGENT = "org.qemu.guest_agent.0";

interface Ctx {
  model: VmModel;
  disk: string;
  seed?: string;
  cfg: NomadQemuConfig;
  maps: NomadMapping[];
  seedUsed: boolean;
  /** The VM's efivars.fd, shipped to TASK_EFIVARS; set when a pflash drive named it. */
  efivars?: string;
  efivarsUsed: boolean;
}

function refuse(g: OptionGroup, why: string): never {
  throw new UsageError(`${where(g)}: "${shown(g)}" ${why}`);
}

function note(ctx: Ctx, g: OptionGroup, to: string): void {
  ctx.maps.push({ at: g.word.file === "" ? "" : where(g), arg: shown(g), to });
}

/** Groups the driver replaces: the guest agent's devices, and user-mode NICs when ports map. */
function pairedDrops(groups: OptionGroup[], ctx: Ctx): Map<OptionGroup, string> {
  const drop = new Map<OptionGroup, string>();
  for (const g of groups) {
    const opts = optsOf(g);
    if (g.opt !== "-device" || optGet(opts, "name") !== GUEST_AGENT) continue;
    ctx.cfg.guestAgent = true;
    drop.set(g, "config.guest_agent = true (the driver adds the agent's devices)");
    const chardev = optGet(opts, "chardev");
    for (const c of groups) {
      if (c.opt === "-chardev" && idOf(c) === chardev) drop.set(c, "the driver's qa.sock");
    }
    const ports = groups.filter((d) =>
      d.opt === "-device" && /^virt(serialport|console)$/.test(leadWord(optsOf(d), "driver") ?? "")
    );
    const bus = groups.find((d) => /^virtio-serial/.test(leadWord(optsOf(d), "driver") ?? ""));
    if (ports.length === 1 && bus !== undefined) {
      drop.set(bus, "the driver's -device virtio-serial");
    }
  }
  if (ctx.model.ports.length === 0) return drop;
  const nic = "the driver's -netdev user,id=user.0 with port_map (network { port })";
  for (const g of groups) {
    const kind = leadWord(optsOf(g));
    if (!["-nic", "-netdev", "-net"].includes(g.opt) || (kind !== "user" && kind !== "nic")) {
      continue;
    }
    drop.set(g, nic);
    const id = idOf(g);
    if (g.opt === "-netdev" && id !== undefined) {
      for (const d of usersOf(groups, "netdev", id)) drop.set(d, nic);
    }
  }
  return drop;
}

/** The main disk's `-drive`/`-hda`: mapped to image_path and drive_interface. */
function mapDisk(g: OptionGroup, ctx: Ctx): void {
  const iface = g.opt === "-drive" ? optGet(optsOf(g), "if") : "ide";
  if (iface === "none") {
    refuse(
      g,
      'attaches the disk with "if=none" and a -device; under Nomad the driver attaches ' +
        'image_path itself: use "if=virtio" (or another interface) instead',
    );
  }
  if (iface !== undefined && !DRIVE_INTERFACES.includes(iface)) {
    refuse(
      g,
      `uses interface "${iface}", which the driver does not offer (${DRIVE_INTERFACES.join(" ")})`,
    );
  }
  if (iface !== undefined && iface !== "ide") ctx.cfg.driveInterface = iface;
  const dropped = optWithout(optsOf(g), ["file", "if", "format", "index", "media", "id"]);
  const lost = dropped.length === 0 ? "" : `; not kept: ${joinOpts(dropped)}`;
  note(ctx, g, `config.image_path` + (iface ? ` and drive_interface = "${iface}"` : "") + lost);
}

/** `-machine` without what the driver sets (type, accel); kept when other properties remain. */
function mapMachine(g: OptionGroup, ctx: Ctx): OptionGroup | undefined {
  const opts = optsOf(g);
  const rest = optWithout(opts, ["type", "accel"]).filter((o, i) => !(i === 0 && o.bare));
  const restFirst = rest[0];
  const type = machineTypeOf([g]);
  note(
    ctx,
    g,
    `config.machine_type = "${type ?? "pc"}"` + (restFirst ? ", rest kept in args" : ""),
  );
  return restFirst === undefined ? undefined : madeGroup("-machine", joinOpts(rest));
}

/**
 * UEFI's pflash drives: the read-only code image stays a path of the host (the Nomad client
 * needs the same firmware package), the VM's variable store becomes the artifact at
 * TASK_EFIVARS. Undefined for another group.
 */
function mapPflash(g: OptionGroup, ctx: Ctx): OptionGroup | undefined {
  if (g.opt !== "-drive" || optGet(optsOf(g), "if") !== "pflash") return undefined;
  const file = optGet(optsOf(g), "file") ?? "";
  const abs = resolveDisk(ctx.model.dir, file);
  if (optGet(optsOf(g), "readonly") === "on" && abs === file && abs.startsWith("/usr/share/")) {
    note(ctx, g, "kept: the UEFI code image, a file of the firmware package the node needs too");
    return g;
  }
  if (ctx.efivars === undefined || abs !== ctx.efivars) return undefined;
  ctx.efivarsUsed = true;
  note(ctx, g, `kept, with the VM's UEFI variables at "${TASK_EFIVARS}" (artifact)`);
  return rewritePaths(g, () => TASK_EFIVARS);
}

/** Checks and rewrites the local paths a kept group names. */
function mapPaths(g: OptionGroup, ctx: Ctx): OptionGroup {
  const flash = mapPflash(g, ctx);
  if (flash !== undefined) return flash;
  for (const p of pathsIn(g)) {
    const abs = resolveDisk(ctx.model.dir, p.path);
    if (abs === ctx.seed) continue;
    if (abs === resolveDisk(ctx.model.dir, F.tpmSocket)) {
      refuse(
        g,
        "is the TPM's (swtpm's socket): Nomad's qemu driver starts no swtpm; drop the tpm " +
          "template for the export",
      );
    }
    const socket = p.kind === "unix" || (g.opt === "-chardev" && leadWord(optsOf(g)) === "socket");
    if (socket && abs.startsWith(ctx.model.dir + "/supervise/")) {
      refuse(
        g,
        'uses a socket in "supervise/", which does not exist under Nomad; drop it for ' +
          "the export (the driver makes its own monitor and guest agent sockets)",
      );
    }
    if (abs.startsWith("/dev/")) refuse(g, `uses the host device "${p.path}"`);
    refuse(
      g,
      `names "${p.path}", a file outside Nomad's task directory (only the disk and the ` +
        "seed are shipped, as artifacts); drop the argument or put the file into the disk image",
    );
  }
  const out = rewritePaths(g, (p) => resolveDisk(ctx.model.dir, p) === ctx.seed ? TASK_SEED : p);
  if (out !== g) {
    ctx.seedUsed = true;
    note(ctx, g, `kept, with the seed at "${TASK_SEED}" (artifact)`);
  }
  return out;
}

/**
 * `-vnc`: on a port it is kept; on a unix socket in `supervise/` (the `vnc`
 * template's) it is removed, as that directory is runit's and does not exist
 * under Nomad (the screen is then not served: the driver adds -nographic);
 * a socket elsewhere is refused like any path outside the task directory.
 */
function mapVnc(g: OptionGroup, ctx: Ctx): OptionGroup | undefined {
  const unix = /^unix:([^,]+)/.exec(g.value?.value ?? "");
  if (unix === null) return g;
  if (!resolveDisk(ctx.model.dir, unix[1] ?? "").startsWith(ctx.model.dir + "/supervise/")) {
    refuse(g, "serves VNC on a socket outside Nomad's task directory; use -vnc on a port");
  }
  return void note(
    ctx,
    g,
    'removed: its socket in "supervise/" does not exist under Nomad (no screen is served; ' +
      "add -vnc on a port to see it)",
  );
}

/** What becomes of one group: undefined when removed, else the group kept (maybe changed). */
function mapGroup(g: OptionGroup, ctx: Ctx): OptionGroup | undefined {
  const lead = leadWord(optsOf(g));
  switch (g.opt) {
    case "-machine":
    case "-M":
      return mapMachine(g, ctx);
    case "-accel":
    case "-enable-kvm":
      return void note(ctx, g, `config.accelerator = "${ctx.cfg.accelerator}"`);
    case "-name":
      return void note(ctx, g, "removed: the driver names the VM after image_path");
    case "-m":
      return void note(ctx, g, `resources.memory = ${ctx.cfg.memoryMb}`);
    case "-nographic":
      return void note(ctx, g, "removed: the driver adds -nographic");
    case "-display":
      if (lead === "none") return void note(ctx, g, "removed: the driver adds -nographic");
      return refuse(g, "opens a display, which a Nomad client does not have; use -vnc or none");
    case "-daemonize":
      return refuse(
        g,
        "would leave the driver's executor; Nomad supervises QEMU in the foreground",
      );
    case "-smp":
      note(ctx, g, `kept; resources.cores = ${ctx.cfg.cores}`);
      break;
    case "-vnc":
      return mapVnc(g, ctx);
  }
  if (["-netdev", "-nic", "-net"].includes(g.opt) && HOST_NETS.has(lead ?? "")) {
    refuse(
      g,
      "needs a host network device (tap/bridge), which the qemu driver cannot give; " +
        "use user-mode networking with a ports file",
    );
  }
  if (g.opt === "-device" && HOST_DEVICES.has(leadWord(optsOf(g), "driver") ?? "")) {
    refuse(g, "passes a host device through, which the qemu driver cannot give");
  }
  const isDisk = ["-drive", "-hda", "-blockdev"].includes(g.opt) &&
    pathsIn(g).some((p) => resolveDisk(ctx.model.dir, p.path) === ctx.disk);
  if (isDisk && g.opt === "-blockdev") {
    refuse(g, 'names the disk with -blockdev; use "-drive file="');
  }
  if (isDisk) return void mapDisk(g, ctx);
  const kept = mapPaths(g, ctx);
  if (groupWords(kept).some((w) => w.includes("${"))) {
    refuse(g, 'contains "${", which Nomad would interpolate; write it without');
  }
  return kept;
}

/**
 * Maps the VM's arguments to the qemu driver's config (see the module doc).
 * `disk` is the absolute path of the disk shipped as image_path; `seed` that
 * of the seed shipped to TASK_SEED, if any. Pure; throws UsageError
 * (`<template>:<line>: …`) for an argument that cannot work under Nomad.
 */
export function mapNomadArgs(
  model: VmModel,
  disk: string,
  seed?: string,
  efivars?: string,
): { config: NomadQemuConfig; mappings: NomadMapping[]; efivarsUsed: boolean } {
  const groups = groupOptions(model.args);
  const smp = smpOf(groups);
  const cfg: NomadQemuConfig = {
    accelerator: acceleratorOf(groups),
    guestAgent: false,
    memoryMb: memoryOf(groups),
    cores: smp.cpus,
    args: [],
  };
  const machine = machineTypeOf(groups);
  if (machine !== undefined) cfg.machineType = machine;
  const ctx: Ctx = {
    model,
    disk,
    cfg,
    maps: [],
    seedUsed: false,
    efivarsUsed: false,
    ...(seed ? { seed } : {}),
    ...(efivars ? { efivars } : {}),
  };
  const drops = pairedDrops(groups, ctx);
  for (const g of groups) {
    const why = drops.get(g);
    const kept = why === undefined ? mapGroup(g, ctx) : void note(ctx, g, `removed: ${why}`);
    if (kept !== undefined) cfg.args.push(...groupWords(kept));
  }
  if (seed !== undefined && !ctx.seedUsed) {
    const add = madeGroup("-drive", `file=${TASK_SEED},format=raw,media=cdrom,readonly=on`);
    cfg.args.push(...groupWords(add));
    note(ctx, add, "added: the seed as a CD-ROM (no template names seed.iso)");
  }
  if (cfg.memoryMb < NOMAD_MEM_MIN_MB || cfg.memoryMb > NOMAD_MEM_MAX_MB) {
    throw new UsageError(
      `VM "${model.name}" has ${cfg.memoryMb} MiB of memory; Nomad's qemu driver needs ` +
        `${NOMAD_MEM_MIN_MB} to ${NOMAD_MEM_MAX_MB} MB: change its -m`,
    );
  }
  return { config: cfg, mappings: ctx.maps, efivarsUsed: ctx.efivarsUsed };
}
