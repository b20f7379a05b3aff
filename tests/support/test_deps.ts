/**
 * What the tests need from the system, and the step `deno task test` runs
 * before them: it finds which of {@link TEST_PACKAGES} are missing and hands
 * them to setup/packages.sh, which installs them as ./install.sh installs
 * vm's own: as root or through sudo, asking first on a terminal (`--yes` or
 * VM_SETUP_YES=1: without asking), otherwise one line naming the packages and
 * the command to run, exit 111. It also makes sure apt's package lists exist
 * (the test guest's kernel comes from `apt-get download`, see guest.ts).
 * Debian and Ubuntu (apt-get) only. Not a test file.
 *
 *     deno run -A tests/support/test_deps.ts [--yes]
 *
 * @module
 */

import { join } from "node:path";
import { hasInterpreter } from "./guest.ts";

/**
 * Everything the tests run that a fresh Debian machine may lack: a command
 * (or an absolute file path) → the Debian package that has it.
 */
export const TEST_PACKAGES: Readonly<Record<string, string>> = {
  // vm itself
  runsvdir: "runit",
  "qemu-system-x86_64": "qemu-system-x86",
  "qemu-img": "qemu-utils",
  // the test guest (guest.ts): a static busybox, its kernel modules
  busybox: "busybox-static",
  xz: "xz-utils",
  // guests of other machines: UEFI (OVMF, AAVMF), a TPM (swtpm), aarch64 QEMU
  "/usr/share/OVMF/OVMF_CODE_4M.fd": "ovmf",
  "qemu-system-aarch64": "qemu-system-arm",
  "/usr/share/AAVMF/AAVMF_CODE.fd": "qemu-efi-aarch64",
  swtpm: "swtpm",
  swtpm_setup: "swtpm-tools",
  // a LAN's DHCP server in a network namespace (bridged VMs)
  dnsmasq: "dnsmasq-base",
  // images, ISOs and cloud-init seeds
  cpio: "cpio",
  isoinfo: "genisoimage",
  xorriso: "xorriso",
  "cloud-localds": "cloud-image-utils",
  "cloud-init": "cloud-init",
  mmdebstrap: "mmdebstrap",
  "mkfs.ext4": "e2fsprogs",
  mkpasswd: "whois",
  file: "file",
  python3: "python3",
  tar: "tar",
  // a bootable FAT disk for the image tests (SYSLINUX)
  syslinux: "syslinux",
  "/usr/lib/syslinux/modules/bios/ldlinux.c32": "syslinux-common",
  mcopy: "mtools",
  "mkfs.fat": "dosfstools",
  // libvirt domain XML checks
  "/etc/libvirt/libvirtd.conf": "libvirt-daemon-system",
  "virt-xml-validate": "libvirt-clients",
  virsh: "libvirt-clients",
  // ssh and downloads
  ssh: "openssh-client",
  "ssh-keygen": "openssh-client",
  curl: "curl",
  openssl: "openssl",
  // unit files, shell completions, pseudo-terminals, networking, processes
  "systemd-analyze": "systemd",
  zsh: "zsh",
  fish: "fish",
  script: "util-linux",
  ip: "iproute2",
  ps: "procps",
};

/** Commands of {@link TEST_PACKAGES} that only count when statically linked. */
export const MUST_BE_STATIC: ReadonlySet<string> = new Set(["busybox"]);

/** setup/packages.sh, which installs packages for install.sh and for this. */
const PACKAGES_SH = new URL("../../setup/packages.sh", import.meta.url).pathname;

/**
 * The packages of `table` whose command or file `present` says is missing,
 * each once, in table order. Pure.
 */
export function missingPackages(
  table: Readonly<Record<string, string>>,
  present: (need: string) => boolean,
): string[] {
  const missing: string[] = [];
  for (const [need, pkg] of Object.entries(table)) {
    if (!missing.includes(pkg) && !present(need)) missing.push(pkg);
  }
  return missing;
}

/**
 * Directories to search for a command: those of `path` (a PATH value), then
 * /usr/sbin and /sbin when missing (a user's PATH often lacks them). Pure.
 */
export function searchDirs(path: string | undefined): string[] {
  const dirs = (path ?? "").split(":").filter((d) => d !== "");
  for (const d of ["/usr/sbin", "/sbin"]) if (!dirs.includes(d)) dirs.push(d);
  return dirs;
}

/**
 * The arguments of `sh setup/packages.sh` that install `packages` for the
 * tests (and apt's lists), without asking when `yes`. Pure.
 */
export function packagesArgs(packages: readonly string[], yes: boolean): string[] {
  return [
    PACKAGES_SH,
    ...(yes ? ["--yes"] : []),
    "--lists",
    "--only",
    "apt-get",
    "--prog",
    "test_deps.ts",
    "--why",
    "the tests need",
    "--hint",
    "VM_SETUP_YES=1 deno task test",
    "--",
    ...packages,
  ];
}

/** Whether `path` is an executable regular file (following symlinks). */
function isExecutable(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    return st.isFile && ((st.mode ?? 0) & 0o111) !== 0;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied) {
      return false;
    }
    throw e;
  }
}

/**
 * Whether `need` (a key of {@link TEST_PACKAGES}) is on this machine: the file
 * exists, or the command is in {@link searchDirs} of $PATH (statically linked
 * when {@link MUST_BE_STATIC} says so). Reads the file system only.
 */
export function isPresent(need: string): boolean {
  if (need.startsWith("/")) return exists(need);
  for (const dir of searchDirs(Deno.env.get("PATH"))) {
    const path = join(dir, need);
    if (!isExecutable(path)) continue;
    return !MUST_BE_STATIC.has(need) || !hasInterpreter(Deno.readFileSync(path));
  }
  return false;
}

/** Whether a path exists (following symlinks). */
function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Installs (or asks for) what the tests miss, through setup/packages.sh with
 * this process's stdin, stdout and stderr; returns its exit code: 0 when
 * all is there, 111 when something is missing and was not installed, 1 when
 * the question was answered no, 100 on a bad argument.
 */
export async function ensureTestPackages(args: readonly string[]): Promise<number> {
  const bad = args.find((a) => a !== "--yes" && a !== "-y");
  if (bad !== undefined) {
    console.error(`test_deps.ts: fatal: unknown argument "${bad}"; the only one is --yes`);
    return 100;
  }
  const yes = args.length > 0 || Deno.env.get("VM_SETUP_YES") === "1";
  const missing = missingPackages(TEST_PACKAGES, isPresent);
  const child = new Deno.Command("sh", { args: packagesArgs(missing, yes) }).spawn();
  return (await child.status).code;
}

if (import.meta.main) Deno.exit(await ensureTestPackages(Deno.args));
