/**
 * The disks named in a VM's QEMU arguments: `-drive` (without `media=cdrom`
 * or `if=pflash`),
 * `-hda` … `-hdd` and `-blockdev driver=file`, parsed from the arguments the
 * templates give. Only local files count: protocol names (`nbd:`, `http://`,
 * `json:`) are skipped. Pure: no I/O.
 * @module
 */

import { isAbsolute, join, normalize } from "../os/path.ts";
import { optGet, parseOpts } from "./opt_list.ts";

/** One `key=value` of a QEMU option list; a bare word is `key` with value "on". */
export interface Opt {
  key: string;
  value: string;
}

/**
 * Splits a QEMU option list (`file=a,,b.img,if=virtio`) into its options:
 * `,` separates, `,,` is a literal comma (lib/qemu/opt_list.ts). Pure.
 */
export function splitOptList(text: string): Opt[] {
  return parseOpts(text).map(({ key, value }) => ({ key, value }));
}

/** The last value of `key` in an option list (QEMU takes the last), or undefined. Pure. */
export function optValue(opts: readonly Opt[], key: string): string | undefined {
  return optGet(opts, key);
}

/** A disk named in QEMU arguments. */
export interface DiskRef {
  /** The file name as written (after `file:` is removed). */
  file: string;
  /** The option that named it: `-drive`, `-hda`, `-blockdev`… */
  via: string;
}

const HD_OPTIONS = new Set(["-hda", "-hdb", "-hdc", "-hdd"]);
/** A protocol prefix (`nbd:`, `http:`, `json:`): not a local file. */
const PROTOCOL = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/** The local file a `file=` value names: `file:` removed; undefined for another protocol. Pure. */
export function localFile(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.startsWith("file:")) return value.slice("file:".length) || undefined;
  if (value.startsWith("/") || value.startsWith(".")) return value;
  return PROTOCOL.test(value) ? undefined : value;
}

/**
 * The disks in QEMU arguments, in order: `-drive` with a local `file=` (or
 * `file.filename=`) and no `media=cdrom` or `if=pflash`, `-hda`…`-hdd`, and `-blockdev` with
 * `driver=file` or `driver=host_device`. `--opt` is read as `-opt`. Pure.
 */
export function diskRefs(args: readonly string[]): DiskRef[] {
  const refs: DiskRef[] = [];
  for (let i = 0; i < args.length; i++) {
    const raw = args[i] ?? "";
    const opt = raw.startsWith("--") ? raw.slice(1) : raw;
    if (opt !== "-drive" && opt !== "-blockdev" && !HD_OPTIONS.has(opt)) continue;
    const value = args[i + 1];
    i++;
    if (value === undefined) break;
    let file: string | undefined;
    if (HD_OPTIONS.has(opt)) {
      file = localFile(value);
    } else if (opt === "-drive") {
      const opts = splitOptList(value);
      if (optValue(opts, "media") === "cdrom") continue;
      // Firmware (the UEFI code and the VM's efivars.fd) is no disk: never converted or checked.
      if (optValue(opts, "if") === "pflash") continue;
      file = localFile(optValue(opts, "file") ?? optValue(opts, "file.filename") ?? "");
    } else {
      if (value.startsWith("{")) continue; // JSON -blockdev: not parsed
      const opts = splitOptList(value);
      const driver = optValue(opts, "driver");
      if (driver !== "file" && driver !== "host_device") continue;
      file = localFile(optValue(opts, "filename") ?? "");
    }
    if (file !== undefined) refs.push({ file, via: opt });
  }
  return refs;
}

/** Absolute path of a disk file name as QEMU opens it with `vmDir` as its cwd. Pure. */
export function resolveDisk(vmDir: string, file: string): string {
  return normalize(isAbsolute(file) ? file : join(vmDir, file));
}

/** The absolute paths of the disks in `args` (QEMU's cwd `vmDir`), each once, in order. Pure. */
export function diskPaths(vmDir: string, args: readonly string[]): string[] {
  const out: string[] = [];
  for (const r of diskRefs(args)) {
    const p = resolveDisk(vmDir, r.file);
    if (!out.includes(p)) out.push(p);
  }
  return out;
}
