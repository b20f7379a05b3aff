/**
 * Shared folders over virtiofs, on QEMU's side and virtiofsd's: QEMU's
 * arguments (a shared memfd memory backend sized like `-m`, and per share a
 * vhost-user socket chardev with a `vhost-user-fs-pci` device), which
 * virtiofsd serves a share, and its command line. A read-only share is
 * enforced on the host: the Rust virtiofsd by `--readonly`; Debian's C
 * virtiofsd (which has no such option) runs in a mount namespace of its own
 * where the folder is bind-mounted read-only (`unshare --mount` and
 * `mount --bind -o ro`, through `sh -c`), so the guest's writes fail with
 * EROFS and the host's mount table is left alone. Pure, except
 * {@link findVirtiofsd}, which looks for the programs.
 * @module
 */

import { optGet, parseOpts } from "./opt_list.ts";
import { isExecutableFile } from "../os/exec.ts";

/** What QEMU and virtiofsd need to know of a share. */
export interface VirtiofsShare {
  tag: string;
  /** The host folder, absolute. */
  path: string;
  readonly: boolean;
}

/** QEMU's default memory when the arguments have no `-m`: 128 MiB. */
export const DEFAULT_MEM_BYTES = 128 * 2 ** 20;

/** The id of the shared memory backend vm gives a VM with shares. */
export const MEM_ID = "vm-shared-mem";

const UNIT: Record<string, number> = { B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/**
 * Bytes of guest memory of `args` (QEMU's arguments): the last `-m` (`-m 256`,
 * `-m 1G`, `-m size=512M,maxmem=…`; a bare number is MiB as QEMU reads it),
 * else QEMU's default; undefined when a `-m` gives no size vm can read. Pure.
 */
export function memoryBytes(args: readonly string[]): number | undefined {
  let bytes: number | undefined = DEFAULT_MEM_BYTES;
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== "-m" && args[i] !== "--m") continue;
    const opts = parseOpts(args[i + 1] ?? "");
    const size = optGet(opts, "size") ?? (opts[0]?.bare ? opts[0].key : undefined);
    const m = /^([0-9]+(?:\.[0-9]+)?)([bBkKmMgGtT]?)$/.exec(size ?? "");
    bytes = m === null
      ? undefined
      : Math.round(Number(m[1]) * (UNIT[(m[2] ?? "").toUpperCase()] ?? 2 ** 20));
  }
  return bytes;
}

/** The chardev id of a share's vhost-user socket. Pure. */
export function chardevId(tag: string): string {
  return `fs-${tag}`;
}

/**
 * QEMU's arguments for `shares`: the memory as a shared memfd backend of
 * `memBytes` (vhost-user needs memory virtiofsd can map; a memfd leaves no
 * file behind), and per share its socket (`socketOf(tag)`, relative to the
 * VM directory) and device. None for no shares. Pure.
 */
export function virtiofsQemuArgs(
  shares: readonly VirtiofsShare[],
  memBytes: number,
  socketOf: (tag: string) => string,
): string[] {
  if (shares.length === 0) return [];
  const args = [
    "-object",
    `memory-backend-memfd,id=${MEM_ID},size=${memBytes},share=on`,
    "-machine",
    `memory-backend=${MEM_ID}`,
  ];
  for (const s of shares) {
    const id = chardevId(s.tag);
    args.push(
      "-chardev",
      `socket,id=${id},path=${socketOf(s.tag).replaceAll(",", ",,")}`,
      "-device",
      `vhost-user-fs-pci,chardev=${id},tag=${s.tag}`,
    );
  }
  return args;
}

/** Debian's C virtiofsd (package qemu-system-common): runs as root only. */
export const C_VIRTIOFSD = "/usr/lib/qemu/virtiofsd";

/** Where distributions install the Rust virtiofsd (package virtiofsd), which runs unprivileged. */
export const RUST_VIRTIOFSD = ["/usr/libexec/virtiofsd", "/usr/lib/virtiofsd"] as const;

/** A virtiofsd to run: its path and which of the two it is. */
export interface Virtiofsd {
  program: string;
  kind: "c" | "rust";
}

/**
 * The virtiofsd to use: the Rust one when installed, else the C one when
 * running as root (`root`); undefined when neither can serve. Looks at the
 * files.
 */
export function findVirtiofsd(root: boolean): Virtiofsd | undefined {
  const rust = RUST_VIRTIOFSD.find((p) => isExecutableFile(p));
  if (rust !== undefined) return { program: rust, kind: "rust" };
  if (root && isExecutableFile(C_VIRTIOFSD)) return { program: C_VIRTIOFSD, kind: "c" };
  return undefined;
}

/** The one line saying why no virtiofsd can serve a share. Pure. */
export function noVirtiofsdLine(root: boolean): string {
  return root
    ? `no virtiofsd is installed (neither ${C_VIRTIOFSD} nor ${RUST_VIRTIOFSD[0]}): ` +
      "apt-get install qemu-system-common (or virtiofsd)"
    : `Debian's C virtiofsd (${C_VIRTIOFSD}) needs root and no unprivileged Rust virtiofsd ` +
      `is installed (${RUST_VIRTIOFSD[0]}): apt-get install virtiofsd (Debian 13, Ubuntu ` +
      "24.04 and later), or run the VM as root";
}

/**
 * The shell script that, with `mount` as `$1`, makes the folder `$2`
 * read-only in the mount namespace `unshare --mount` made, then becomes the
 * program after them.
 */
export const RO_SCRIPT = '"$1" --bind -o ro -- "$2" "$2" && shift 2 && exec "$@"';

/** Programs the read-only wrapper of the C virtiofsd runs. */
export interface RoTools {
  unshare: string;
  mount: string;
  sh: string;
}

/**
 * virtiofsd's command line serving `share` on `socket` (absolute: the C
 * virtiofsd names its lock file after it). A read-only share of the C
 * virtiofsd is wrapped as the module says (`tools` then required). Pure.
 */
export function virtiofsdArgv(
  d: Virtiofsd,
  share: VirtiofsShare,
  socket: string,
  root: boolean,
  tools?: RoTools,
): string[] {
  if (d.kind === "rust") {
    return [
      d.program,
      `--socket-path=${socket}`,
      `--shared-dir=${share.path}`,
      "--cache=auto",
      ...(share.readonly ? ["--readonly"] : []),
      ...(root ? [] : ["--sandbox=none"]),
    ];
  }
  // fuse's -o lists split at commas; a backslash escapes one.
  const source = share.path.replaceAll("\\", "\\\\").replaceAll(",", "\\,");
  const argv = [
    d.program,
    `--socket-path=${socket}`,
    "-o",
    `source=${source}`,
    "-o",
    "cache=auto",
  ];
  if (!share.readonly) return argv;
  if (tools === undefined) {
    throw new Error("virtiofsdArgv: a read-only C virtiofsd needs its tools");
  }
  const { unshare, mount, sh } = tools;
  return [unshare, "--mount", "--", sh, "-c", RO_SCRIPT, "sh", mount, share.path, ...argv];
}
