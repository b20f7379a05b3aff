/**
 * Test support: a real Debian cloud-init guest, built once and cached.
 *
 * The recipe: `mmdebstrap --variant=minbase` of Debian stable with
 * cloud-init, openssh-server, qemu-guest-agent and the cloud kernel (plus
 * `dbus` in the {@link CloudGuestOptions.dbus} variant: only then does logind
 * act on the ACPI power button), unpacked with `tar` (no mount), given a
 * systemd-networkd DHCP config (ifupdown's DHCP hangs under TCG) enabled by
 * symlink and an fstab, turned into an ext4 filesystem by `mke2fs -d` and
 * converted to qcow2. The kernel and initrd come from its /boot; it boots
 * with `root=/dev/vda` and, under TCG, `-smp 1` (with `-smp 2` Debian's 6.12
 * kernel panicked early under QEMU 7.2) and a CPU without CMPXCHG16B (see
 * {@link cloudGuestArgs}).
 *
 * Cache: `$VM_TEST_CACHE` or `~/.cache/vm-test-guest`, in
 * `cloud-<hash of the recipe>/`; built in a temp dir there and renamed into
 * place, so concurrent test processes never see half a guest. Not a test file.
 * @module
 */

import { createHash } from "node:crypto";
import { cacheRoot } from "./guest.ts";

/** The cached guest's files. */
export interface CloudGuest {
  /** The root filesystem (ext4, no partition table) as qcow2: use it as a backing file. */
  disk: string;
  /** Kernel and initrd from the guest's /boot. */
  kernel: string;
  initrd: string;
  /** The cache directory holding them. */
  dir: string;
}

/** Which variant to build. */
export interface CloudGuestOptions {
  /** Include dbus: the guest powers off on the ACPI power button (default false: it ignores it). */
  dbus?: boolean;
}

/** Packages of every variant (mmdebstrap `--include`). */
const PACKAGES = [
  "systemd-sysv",
  "cloud-init",
  "openssh-server",
  "qemu-guest-agent",
  "linux-image-cloud-amd64",
  "udev",
  "kmod",
  // cloud-init's network renderers need `ip`; the user's sudo rule needs sudo.
  "iproute2",
  "sudo",
  // A listener for the port-forward test (python3 -m http.server).
  "python3",
];

/** The systemd-networkd config: DHCP on every Ethernet interface. */
const NETWORK_FILE = "[Match]\nName=en*\n\n[Network]\nDHCP=yes\n";
const FSTAB = "/dev/vda / ext4 rw,errors=remount-ro 0 1\n";
/** Units enabled by symlink: `<wants dir>` → unit. */
const ENABLE: readonly [string, string][] = [
  ["multi-user.target.wants", "systemd-networkd.service"],
  ["sockets.target.wants", "systemd-networkd.socket"],
  ["network-online.target.wants", "systemd-networkd-wait-online.service"],
];
const DISK_SIZE = "2G";
/** Bump when the build steps change in a way the recipe text does not show. */
const BUILD_VERSION = "1";

/** The kernel command line to boot the guest with (serial console on ttyS0). */
export const CLOUD_GUEST_APPEND = "root=/dev/vda rw console=ttyS0 panic=-1";

/** The mmdebstrap arguments of a variant (the mirror appended by the build). Pure. */
export function recipe(opts: CloudGuestOptions = {}): string[] {
  const include = [...PACKAGES, ...(opts.dbus ? ["dbus"] : [])];
  return ["--variant=minbase", `--include=${include.join(",")}`, "stable"];
}

/**
 * The Debian mirror apt uses here: the first `URIs:` (deb822) or `deb URL`
 * line of the sources texts that is not a security archive. Pure.
 */
export function debianMirror(sourcesTexts: readonly string[]): string | undefined {
  for (const text of sourcesTexts) {
    for (const line of text.split("\n")) {
      const m = /^\s*(?:URIs:\s*(\S+)|deb\s+(?:\[[^\]]*\]\s+)?(\S+))/.exec(line);
      const uri = m?.[1] ?? m?.[2];
      if (uri !== undefined && !uri.includes("security")) return uri;
    }
  }
  return undefined;
}

function readSources(): string[] {
  const texts: string[] = [];
  const add = (p: string) => {
    try {
      texts.push(Deno.readTextFileSync(p));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  };
  add("/etc/apt/sources.list");
  try {
    for (const name of [...Deno.readDirSync("/etc/apt/sources.list.d")].map((e) => e.name).sort()) {
      if (/\.(list|sources)$/.test(name)) add(`/etc/apt/sources.list.d/${name}`);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return texts;
}

/** Runs a command; throws with its stderr's tail when it fails. */
async function run(cmd: string, args: string[], cwd?: string): Promise<void> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, {
      args,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    })
      .output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        `cloud guest: "${cmd}" not found; apt-get install mmdebstrap e2fsprogs qemu-utils`,
      );
    }
    throw e;
  }
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join(" | ");
    throw new Error(`cloud guest: "${cmd} ${args.join(" ")}" failed (exit ${out.code}): ${err}`);
  }
}

/** The unit file directory of a root tree (merged /usr or not). */
function unitDir(root: string): string {
  for (const d of ["usr/lib/systemd/system", "lib/systemd/system"]) {
    try {
      Deno.statSync(`${root}/${d}/systemd-networkd.service`);
      return `/${d}`;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  throw new Error(`cloud guest: no systemd-networkd.service in ${root}`);
}

/** Networking, fstab and hostname of the unpacked tree at `root`. */
function customize(root: string): void {
  Deno.mkdirSync(`${root}/etc/systemd/network`, { recursive: true });
  Deno.writeTextFileSync(`${root}/etc/systemd/network/20-wired.network`, NETWORK_FILE);
  Deno.writeTextFileSync(`${root}/etc/fstab`, FSTAB);
  const units = unitDir(root);
  for (const [wants, unit] of ENABLE) {
    const dir = `${root}/etc/systemd/system/${wants}`;
    Deno.mkdirSync(dir, { recursive: true });
    try {
      Deno.symlinkSync(`${units}/${unit}`, `${dir}/${unit}`);
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
}

/** The one file in `dir` whose name starts with `prefix`. */
function only(dir: string, prefix: string): string {
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith(prefix));
  if (names.length !== 1) throw new Error(`cloud guest: ${dir}/${prefix}*: ${names.join(" ")}`);
  return `${dir}/${names[0]}`;
}

/** Builds the guest into the empty directory `out`. */
async function buildInto(out: string, args: string[]): Promise<void> {
  const mirror = debianMirror(readSources());
  if (mirror === undefined) {
    throw new Error("cloud guest: no Debian mirror in /etc/apt/sources.list*");
  }
  const tar = `${out}/root.tar`;
  await run("mmdebstrap", ["--quiet", ...args, tar, mirror]);
  const root = `${out}/root`;
  Deno.mkdirSync(root);
  await run("tar", ["-x", "-p", "--numeric-owner", "-f", tar, "-C", root]);
  Deno.removeSync(tar);
  customize(root);
  Deno.copyFileSync(only(`${root}/boot`, "vmlinuz-"), `${out}/vmlinuz`);
  Deno.copyFileSync(only(`${root}/boot`, "initrd.img-"), `${out}/initrd.img`);
  await run("mke2fs", ["-q", "-t", "ext4", "-d", root, `${out}/disk.raw`, DISK_SIZE]);
  Deno.removeSync(root, { recursive: true });
  await run("qemu-img", ["convert", "-O", "qcow2", `${out}/disk.raw`, `${out}/disk.qcow2`]);
  Deno.removeSync(`${out}/disk.raw`);
}

function filesOf(dir: string): CloudGuest {
  return { dir, disk: `${dir}/disk.qcow2`, kernel: `${dir}/vmlinuz`, initrd: `${dir}/initrd.img` };
}

function complete(g: CloudGuest): boolean {
  try {
    return [g.disk, g.kernel, g.initrd].every((p) => Deno.statSync(p).isFile);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

const building = new Map<string, Promise<CloudGuest>>();

/**
 * The cached cloud guest of the variant, built first when missing (about
 * 2 minutes and 350 MB of downloads). Never modify its files: boot overlays.
 */
export function cloudGuest(opts: CloudGuestOptions = {}): Promise<CloudGuest> {
  const args = recipe(opts);
  const hash = createHash("sha256").update([BUILD_VERSION, ...args, NETWORK_FILE, FSTAB].join("\0"))
    .digest("hex").slice(0, 16);
  let p = building.get(hash);
  if (p === undefined) {
    p = findOrBuild(`${cacheRoot()}/cloud-${hash}`, args);
    building.set(hash, p);
    p.catch(() => building.delete(hash));
  }
  return p;
}

async function findOrBuild(dir: string, args: string[]): Promise<CloudGuest> {
  const guest = filesOf(dir);
  if (complete(guest)) return guest;
  const parent = dir.slice(0, dir.lastIndexOf("/"));
  Deno.mkdirSync(parent, { recursive: true });
  const tmp = Deno.makeTempDirSync({ dir: parent, prefix: ".build-cloud-" });
  try {
    await buildInto(tmp, args);
    Deno.chmodSync(tmp, 0o755);
    try {
      Deno.renameSync(tmp, dir);
    } catch (e) {
      if (!complete(guest)) throw e; // else: another process won the race
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {}); // renamed into place, or a failed build's leftovers
  }
  return guest;
}

/**
 * QEMU arguments booting the guest from `disk` (an overlay on
 * {@link CloudGuest.disk}; undefined: a template of the VM attaches it)
 * under TCG with one CPU: kernel, initrd, root on the first virtio disk. The
 * caller adds network, seed, serial and sockets.
 */
export function cloudGuestArgs(g: CloudGuest, disk: string | undefined, mem = "1G"): string[] {
  return [
    "-accel",
    "tcg",
    // Without CMPXCHG16B: under QEMU 7.2's TCG the flags after it came out
    // corrupted, and the 6.12 kernel (SLUB uses it) died of double faults
    // within the first minute in 3 boots of 3; with -cx16 it boots. (Not seen
    // with QEMU 7.2.22 on an AMD EPYC host, 5 boots of 5: kept for
    // the hosts where it was.)
    "-cpu",
    "qemu64,-cx16",
    "-smp",
    "1",
    "-m",
    mem,
    "-display",
    "none",
    "-kernel",
    g.kernel,
    "-initrd",
    g.initrd,
    "-append",
    CLOUD_GUEST_APPEND,
    ...(disk === undefined ? [] : ["-drive", `file=${disk},if=virtio,format=qcow2`]),
  ];
}

if (import.meta.main) {
  const t0 = performance.now();
  const g = await cloudGuest({ dbus: Deno.args.includes("--dbus") });
  console.log(`${g.dir} (${Math.round((performance.now() - t0) / 1000)} s)`);
}
