/**
 * From the QEMU command line libvirt would run for a domain (`virsh
 * domxml-to-native qemu-argv`) to a vm VM's template arguments.
 *
 * Removed, because vm does it itself or only libvirt needs it:
 *   environment assignments and the binary (vm runs VMCONF_QEMU);
 *   `-name` (a vm VM is named by its directory, which `vm rename` changes);
 *   `-S` (libvirt starts QEMU paused and continues it over QMP);
 *   `-no-shutdown` (libvirt keeps QEMU after a guest power-off; under vm QEMU
 *   exits, which runit sees); `-mon` with its `-chardev` (libvirt's QMP
 *   monitor; vm adds `-monitor`/`-qmp` in supervise/); `-monitor`, `-qmp`;
 *   the `masterKey0` secret object (a file in libvirt's domain directory);
 *   `-no-user-config` and `-msg timestamp=on` (libvirt's host policy and log
 *   format); `-daemonize`, `-pidfile`.
 * Kept: libvirt's `-sandbox on,…` (QEMU's seccomp filter; with a bridge
 * interface its `spawn=deny` becomes `spawn=allow`: QEMU spawns the bridge
 * helper). Disabled unless trusted (import_trust.ts): arguments that reach
 * the host (`-incoming`, `-plugin`, `-sandbox off`, a network monitor…),
 * as `<qemu:commandline>` can pass them.
 * Changed: libvirt's `-blockdev` pairs (a file node and a format node) used by
 * a `-device` become one `-drive file=…,format=…,if=none,id=<node>` that the
 * same device uses, so `vm info`, `vm clone` and snapshots see the disk;
 * sockets in libvirt's directories (guest agent channels) move to
 * `./supervise/<name>`; the first serial port's pty becomes vm's console
 * socket `./supervise/console` (for `vm console`); network backends are rebuilt from the domain's
 * interfaces (libvirt_import_net.ts); UEFI's pflash -blockdev pairs become vm's two pflash
 * drives (the VM's own `./efivars.fd`, a copy of libvirt's), the emulated TPM's socket the
 * VM's swtpm's (`./supervise/tpm`). Refused: file descriptors passed by libvirt (`fd=`,
 * `-add-fd`, `/dev/fdset/`) and other paths in libvirt's own directories.
 * Pure: no I/O. Area lib/export, at the level of actions.
 * @module
 */

import { basename } from "../os/path.ts";
import { ParseError, UsageError } from "../errors.ts";
import { lexCommands } from "../text/shell_words.ts";
import {
  groupOptions,
  groupWords,
  leadWord,
  type OptionGroup,
  optsOf,
  pathsIn,
  rewritePaths,
  shown,
  type VmArg,
} from "./qemu_options.ts";
import { idOf } from "./qemu_machine.ts";
import { F } from "../layout.ts";
import type { NetBackend } from "./libvirt_import_net.ts";
import { hostReach, type Untrusted } from "./import_trust.ts";
import { joinOpts, optGet, type OptItem } from "../qemu/opt_list.ts";

/** What becomes of a domain's QEMU command line. */
export interface ImportedArgs {
  /** Drive options (`-drive …`), one option with its value per entry. */
  drives: string[][];
  /** Every other option kept, in order. */
  rest: string[][];
  /** Options removed, each with why (for the user). */
  dropped: { arg: string; why: string }[];
  /** The local files the drives name that are disks (not CD-ROMs or read-only). */
  disks: string[];
  /** Arguments that reach the host (import_trust.ts), kept only when trusted. */
  untrusted: Untrusted[];
  /** Those of them left out (not trusted), to be written commented out. */
  disabled: string[][];
  /** UEFI's variable store libvirt used (pflash1), to be copied to the VM's `efivars.fd`. */
  nvram?: string;
  /** Whether the domain has an emulated TPM (its socket becomes `supervise/tpm`: swtpm's). */
  tpm: boolean;
}

/** Directories only libvirt uses for a domain's run-time files. */
const LIBVIRT_DIRS = ["/var/lib/libvirt/qemu/", "/run/libvirt/", "/var/run/libvirt/"];

/**
 * Splits `virsh domxml-to-native qemu-argv` output into QEMU's arguments,
 * without the leading `NAME=value` environment and the binary. Pure; throws
 * ParseError for text a shell would not split plainly.
 */
export function splitNativeArgv(text: string): string[] {
  const lookup = (name: string) => name === "HOME" ? "~" : undefined;
  const words = [...lexCommands(text, { file: "qemu-argv", lookup })].flat().map((w) => w.value);
  const at = words.findIndex((w) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w));
  if (at < 0) throw new ParseError("qemu-argv", 1, "No QEMU command in virsh's output");
  return words.slice(at + 1);
}

const DROP: Record<string, string> = {
  "-name": "vm names the VM by its directory",
  "-S": "libvirt starts QEMU paused and continues it over QMP",
  "-no-shutdown": "libvirt keeps QEMU after a power-off; under vm QEMU exits",
  "-monitor": "vm adds its own monitor in supervise/",
  "-qmp": "vm adds its own QMP socket in supervise/",
  "-no-user-config": "libvirt's choice of QEMU configuration",
  "-daemonize": "runit supervises QEMU in the foreground",
  "-pidfile": "runit knows QEMU's PID",
};

/** Parses a JSON option value, or undefined when it is not JSON. Pure. */
function json(g: OptionGroup | undefined): Record<string, unknown> | undefined {
  const v = g?.value?.value;
  if (v === undefined || !v.startsWith("{")) return undefined;
  try {
    return JSON.parse(v) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof SyntaxError) return undefined;
    throw e;
  }
}

/** The value of `key` in a `-device` (JSON or option list). Pure. */
function deviceKey(g: OptionGroup, key: string): string | undefined {
  const j = json(g);
  if (j !== undefined) return typeof j[key] === "string" ? j[key] as string : undefined;
  return key === "driver" ? leadWord(optsOf(g), "driver") : optGet(optsOf(g), key);
}

/** The -drive that stands for a libvirt file+format node pair, or undefined. Pure. */
function driveFor(format: Record<string, unknown>, file: Record<string, unknown>, cd: boolean) {
  const filename = file.filename;
  if (typeof filename !== "string" || !["file", "host_device"].includes(String(file.driver))) {
    return undefined;
  }
  const opts: OptItem[] = [
    { key: "file", value: filename, bare: false },
    { key: "format", value: String(format.driver), bare: false },
    { key: "if", value: "none", bare: false },
    { key: "id", value: String(format["node-name"]), bare: false },
  ];
  const on = (key: string) => opts.push({ key, value: "on", bare: false });
  if (format["read-only"] === true) on("readonly");
  if (cd) opts.push({ key: "media", value: "cdrom", bare: false });
  if (file.discard === "unmap") opts.push({ key: "discard", value: "unmap", bare: false });
  const cache = (format.cache ?? file.cache) as Record<string, unknown> | undefined;
  if (cache?.direct === true) on("cache.direct");
  if (cache?.["no-flush"] === true) on("cache.no-flush");
  return joinOpts(opts);
}

/** Replaces libvirt's -blockdev pairs used by devices with -drive groups (see the module doc). */
function blockdevsToDrives(groups: OptionGroup[]): OptionGroup[] {
  const nodes = new Map<string, { g: OptionGroup; j: Record<string, unknown> }>();
  for (const g of groups) {
    const j = g.opt === "-blockdev" ? json(g) : undefined;
    if (j !== undefined && typeof j["node-name"] === "string") nodes.set(j["node-name"], { g, j });
  }
  const replace = new Map<OptionGroup, OptionGroup | undefined>();
  for (const dev of groups.filter((g) => g.opt === "-device")) {
    const fmt = nodes.get(deviceKey(dev, "drive") ?? "");
    const file = nodes.get(String(fmt?.j.file ?? ""));
    if (fmt === undefined || file === undefined) continue;
    const cd = /-cd$/.test(deviceKey(dev, "driver") ?? "");
    const drive = driveFor(fmt.j, file.j, cd);
    if (drive === undefined) continue;
    replace.set(fmt.g, {
      opt: "-drive",
      word: { ...fmt.g.word, value: "-drive" },
      value: { ...fmt.g.word, value: drive },
    });
    replace.set(file.g, undefined);
    let below = nodes.get(String(fmt.j.backing ?? ""));
    while (below !== undefined) {
      replace.set(below.g, undefined);
      const f = nodes.get(String(below.j.file ?? ""));
      if (f !== undefined) replace.set(f.g, undefined);
      below = nodes.get(String(below.j.backing ?? ""));
    }
  }
  return groups.flatMap((g) =>
    replace.has(g) ? (replace.get(g) ? [replace.get(g) as OptionGroup] : []) : [g]
  );
}

/** A group made from `opt` and `value`, placed where `at` was written. */
function groupAt(at: OptionGroup, opt: string, value: string): OptionGroup {
  return { opt, word: { ...at.word, value: opt }, value: { ...at.word, value } };
}

/**
 * libvirt's UEFI (`-machine …,pflash0=<node>,pflash1=<node>` on -blockdev pairs) as vm's two
 * pflash drives: the code image where it is, read-only, and the VM's own `./efivars.fd`, a copy
 * of libvirt's variable store (returned as `nvram`). Pure.
 */
function pflashToDrives(groups: OptionGroup[]): { groups: OptionGroup[]; nvram?: string } {
  const machine = groups.find((g) =>
    g.opt === "-machine" && optGet(optsOf(g), "pflash0") !== undefined
  );
  if (machine === undefined || machine.value === undefined) return { groups };
  const nodes = new Map<string, { g: OptionGroup; j: Record<string, unknown> }>();
  for (const g of groups) {
    const j = g.opt === "-blockdev" ? json(g) : undefined;
    if (j !== undefined && typeof j["node-name"] === "string") nodes.set(j["node-name"], { g, j });
  }
  const opts = optsOf(machine);
  const fileOf = (key: string) => {
    const fmt = nodes.get(optGet(opts, key) ?? "");
    const file = nodes.get(String(fmt?.j.file ?? ""));
    const name = file?.j.filename;
    return fmt === undefined || file === undefined || typeof name !== "string"
      ? undefined
      : { name, gs: [fmt.g, file.g] };
  };
  const code = fileOf("pflash0");
  const vars = fileOf("pflash1");
  if (code === undefined) return { groups };
  const drop = new Set([...code.gs, ...vars?.gs ?? []]);
  const rest = joinOpts(opts.filter((o) => o.key !== "pflash0" && o.key !== "pflash1"));
  const drives = [
    groupAt(machine, "-drive", `if=pflash,format=raw,unit=0,readonly=on,file=${code.name}`),
    ...(vars === undefined
      ? []
      : [groupAt(machine, "-drive", `if=pflash,format=raw,unit=1,file=./${F.efivars}`)]),
  ];
  const out = groups.flatMap((g) =>
    drop.has(g) ? [] : g === machine ? [groupAt(machine, "-machine", rest), ...drives] : [g]
  );
  return vars === undefined ? { groups: out } : { groups: out, nvram: vars.name };
}

/**
 * The `-chardev` of libvirt's swtpm (the one an `-tpmdev emulator` names) as the socket of the
 * VM's own swtpm, `./supervise/tpm`. Pure.
 */
function tpmSocket(groups: OptionGroup[]): { groups: OptionGroup[]; tpm: boolean } {
  const ids = new Set(
    groups.filter((g) => g.opt === "-tpmdev" && leadWord(optsOf(g)) === "emulator")
      .map((g) => optGet(optsOf(g), "chardev") ?? ""),
  );
  if (ids.size === 0) return { groups, tpm: false };
  return {
    groups: groups.map((g) =>
      g.opt === "-chardev" && ids.has(idOf(g) ?? "")
        ? groupAt(g, "-chardev", `socket,id=${idOf(g)},path=./${F.tpmSocket}`)
        : g
    ),
    tpm: true,
  };
}

/** Why a group is removed, or undefined when it is kept. */
function dropReason(g: OptionGroup, monitors: Set<string>): string | undefined {
  const why = DROP[g.opt];
  if (why !== undefined) return why;
  if (g.opt === "-mon") return "libvirt's QMP monitor; vm adds its own";
  if (g.opt === "-chardev" && monitors.has(idOf(g) ?? "")) return "libvirt's QMP monitor socket";
  if (g.opt === "-msg") return "libvirt's log format";
  if (g.opt === "-object" && json(g)?.id === "masterKey0") return "libvirt's master key";
  return undefined;
}

/** Refuses what only libvirt can provide; moves libvirt's sockets into supervise/. */
function relocate(g: OptionGroup): OptionGroup {
  const words = groupWords(g).join(" ");
  if (
    g.opt === "-add-fd" || words.includes("/dev/fdset/") ||
    /(^|[,{"])fd"?[=:]/.test(g.value?.value ?? "")
  ) {
    throw new UsageError(
      `"${shown(g)}" uses a file descriptor libvirt passes (a libvirt network or device?); ` +
        "change that part of the domain (e.g. to a bridge or user-mode interface) and import again",
    );
  }
  const inLibvirt = (p: string) => LIBVIRT_DIRS.some((d) => p.startsWith(d));
  const paths = pathsIn(g).filter((p) => inLibvirt(p.path));
  if (paths.length === 0) return g;
  if (g.opt !== "-chardev" || leadWord(optsOf(g)) !== "socket") {
    throw new UsageError(
      `"${shown(g)}" uses "${paths[0]?.path}", a file of libvirt's; it has no meaning outside ` +
        "libvirt: remove that device from the domain and import again",
    );
  }
  return rewritePaths(g, (p) => inLibvirt(p) ? `./supervise/${basename(p)}` : p);
}

/** vm's console socket (for `vm console`) in place of the first serial port's pty. Pure. */
function consoleSocket(g: OptionGroup, groups: readonly OptionGroup[]): OptionGroup {
  if (g.opt !== "-chardev" || g.value === undefined || leadWord(optsOf(g)) !== "pty") return g;
  const id = idOf(g);
  const serials = groups.filter((d) =>
    d.opt === "-device" && deviceKey(d, "driver") === "isa-serial" &&
    deviceKey(d, "chardev") !== undefined
  );
  if (id === undefined || deviceKey(serials[0] ?? g, "chardev") !== id) return g;
  const value = `socket,id=${id},path=./${F.console},server=on,wait=off`;
  return { ...g, value: { ...g.value, value } };
}

/** A `-netdev` of libvirt's (`hostnet<k>`) with the backend rebuilt from the domain (libvirt_import_net.ts). */
function withBackend(g: OptionGroup, nets: readonly NetBackend[]): OptionGroup {
  if (g.opt !== "-netdev" || g.value === undefined) return g;
  const id = json(g)?.id ?? optGet(optsOf(g), "id");
  const k = /^hostnet([0-9]+)$/.exec(String(id))?.[1];
  const b = k === undefined ? undefined : nets[Number(k)];
  if (b === undefined) return g;
  if ("refuse" in b) throw new UsageError(b.refuse);
  return { ...g, value: { ...g.value, value: b.netdev } };
}

/** libvirt's `-sandbox` with `spawn=allow` when the bridge helper must be spawned; else as it is. */
function sandboxFor(g: OptionGroup, nets: readonly NetBackend[], out: ImportedArgs): OptionGroup {
  const bridge = nets.some((n) => "netdev" in n && n.netdev.startsWith("bridge"));
  const opts = optsOf(g);
  if (g.opt !== "-sandbox" || !bridge || optGet(opts, "spawn") !== "deny" || !g.value) return g;
  out.dropped.push({ arg: "spawn=deny of -sandbox", why: "QEMU spawns the bridge helper" });
  const value = joinOpts(opts.map((o) => o.key === "spawn" ? { ...o, value: "allow" } : o));
  return { ...g, value: { ...g.value, value } };
}

/**
 * The template arguments of a domain's QEMU command line (see the module
 * doc); `copies` maps a disk's path to its new name when it is copied into
 * the VM; `trust` keeps arguments that reach the host. Pure; throws
 * UsageError for what cannot work outside libvirt.
 */
export function importArgs(
  argv: readonly string[],
  with_: {
    copies?: ReadonlyMap<string, string>;
    nets?: readonly NetBackend[];
    trust?: boolean;
  } = {},
): ImportedArgs {
  const copies = with_.copies ?? new Map<string, string>();
  const args: VmArg[] = argv.map((value) => ({ value, file: "qemu-argv", line: 1 }));
  const flash = pflashToDrives(groupOptions(args));
  const tpm = tpmSocket(flash.groups);
  const groups = blockdevsToDrives(tpm.groups);
  const monitors = new Set(
    groups.filter((g) => g.opt === "-mon").map((g) => optGet(optsOf(g), "chardev") ?? ""),
  );
  const out: ImportedArgs = {
    drives: [],
    rest: [],
    dropped: [],
    disks: [],
    untrusted: [],
    disabled: [],
    tpm: tpm.tpm,
  };
  if (flash.nvram !== undefined) out.nvram = flash.nvram;
  for (const g of groups) {
    const why = dropReason(g, monitors);
    if (why !== undefined) {
      out.dropped.push({ arg: shown(g), why });
      continue;
    }
    const nets = with_.nets ?? [];
    const kept = sandboxFor(relocate(withBackend(consoleSocket(g, groups), nets)), nets, out);
    const reach = hostReach(kept);
    if (reach !== undefined) {
      const u: Untrusted = { at: `${F.templates}/libvirt`, arg: shown(kept), why: reach };
      out.untrusted.push(with_.trust ? u : { ...u, disabled: "line commented out" });
      if (!with_.trust) {
        out.disabled.push(groupWords(kept));
        continue;
      }
    }
    // UEFI's pflash drives are firmware, not disks: they go with the rest.
    const isDrive = ["-drive", "-hda", "-hdb", "-hdc", "-hdd", "-cdrom"].includes(g.opt) &&
      optGet(optsOf(kept), "if") !== "pflash";
    if (!isDrive) {
      out.rest.push(groupWords(kept));
      continue;
    }
    const opts = optsOf(kept);
    const isDisk = g.opt !== "-cdrom" && optGet(opts, "media") !== "cdrom" &&
      optGet(opts, "readonly") !== "on";
    if (isDisk) out.disks.push(...pathsIn(kept).map((p) => p.path));
    out.drives.push(groupWords(rewritePaths(kept, (p) => copies.get(p) ?? p)));
  }
  return out;
}
