/**
 * Test support: builds and caches a tiny real Linux guest for QEMU tests.
 *
 * The guest is Debian's cloud kernel (downloaded with `apt-get download`)
 * plus an uncompressed newc initramfs, written here in TypeScript, holding a
 * static busybox, the kernel modules the tests need when they are not built
 * in (the power button's, virtio PCI, block, net and virtiofs, efivarfs) and
 * an `/init` script that:
 *
 * - loads the modules, mounts efivarfs when the firmware is UEFI,
 * - prints {@link GUEST_READY} on the serial console once it is up,
 * - unless `vmtest.deaf=1` is on the kernel command line, prints
 *   {@link GUEST_POWERDOWN} and powers off when the power button is pressed
 *   (QMP `system_powerdown`; on aarch64 only under UEFI, which gives ACPI),
 * - runs the shell script given base64-encoded as `vmtest.run=…`
 *   ({@link guestAppend}'s `run`), its output on the serial console
 *   (`/etc/udhcpc.script` is there for busybox's `udhcpc -s`),
 * - then runs an interactive shell on the serial console, forever.
 *
 * The guest is built for x86_64 (the default) or aarch64: Debian's arm64
 * cloud kernel and arm64 busybox-static, both from `apt-get download` after
 * `dpkg --add-architecture arm64` (done on first need).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { homedir } from "node:os";
import { gunzipSync } from "node:zlib";

/** The architectures a test guest is built for. */
export type GuestArch = "x86_64" | "aarch64";

/** Paths of the cached test guest's files. */
export interface TestGuest {
  /** The kernel image (bzImage; arm64's gzipped Image), for QEMU's `-kernel`. */
  kernel: string;
  /** The initramfs (uncompressed newc cpio), for QEMU's `-initrd`. */
  initrd: string;
  /** Its architecture; absent: x86_64. */
  arch?: GuestArch;
}

/** Printed on the serial console when the guest's init is ready. */
export const GUEST_READY = "GUEST-READY";
/** Printed on the serial console when the guest saw the ACPI power button. */
export const GUEST_POWERDOWN = "GUEST-POWERDOWN";

/** A kernel module the guest needs, with the config symbol that builds it in. */
interface NeededModule {
  name: string;
  config: string;
}

/** The modules every guest needs: virtio devices, virtiofs, efivarfs. */
const COMMON_MODULES: readonly NeededModule[] = [
  { name: "evdev", config: "CONFIG_INPUT_EVDEV" },
  { name: "virtio_pci", config: "CONFIG_VIRTIO_PCI" },
  { name: "virtio_blk", config: "CONFIG_VIRTIO_BLK" },
  { name: "virtio_net", config: "CONFIG_VIRTIO_NET" },
  { name: "virtiofs", config: "CONFIG_VIRTIO_FS" },
  { name: "efivarfs", config: "CONFIG_EFIVAR_FS" },
];

/** What differs between the guests of each architecture. */
const ARCHES: Readonly<
  Record<GuestArch, {
    debArch: string;
    /** Meta package whose dependency is the versioned kernel package. */
    kernelMeta: string;
    modules: readonly NeededModule[];
    /** The serial console's device. */
    console: string;
  }>
> = {
  x86_64: {
    debArch: "amd64",
    kernelMeta: "linux-image-cloud-amd64",
    modules: [{ name: "button", config: "CONFIG_ACPI_BUTTON" }, ...COMMON_MODULES],
    console: "ttyS0",
  },
  aarch64: {
    debArch: "arm64",
    kernelMeta: "linux-image-cloud-arm64",
    // The power button is ACPI's (under UEFI: AAVMF gives the kernel ACPI tables); QEMU's
    // virt machine has a TPM only as tpm-tis-device.
    modules: [
      { name: "button", config: "CONFIG_ACPI_BUTTON" },
      { name: "tpm_tis", config: "CONFIG_TCG_TIS" },
      ...COMMON_MODULES,
    ],
    console: "ttyAMA0",
  },
};
/** Where the static busybox comes from (Debian package `busybox-static`). */
const BUSYBOX = "/bin/busybox";
/** Bump when the initramfs layout (not the init script) changes. */
const LAYOUT_VERSION = "2";

/**
 * The guest's `/init`. Modules are in `/lib/modules/NN-name.ko`, numbered in
 * load order (dependencies first); built-in drivers have no file there.
 */
const INIT_SCRIPT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin HOME=/ TERM=vt100
fail() { echo "GUEST-INIT-ERROR: $*" >/dev/console; }
mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount devtmpfs on /dev"
for m in /lib/modules/*.ko; do
  [ -e "$m" ] || continue
  # efivarfs refuses to load without UEFI.
  case "$m" in *-efivarfs.ko) [ -d /sys/firmware/efi ] || continue ;; esac
  insmod "$m" || fail "insmod $m"
done
if [ -d /sys/firmware/efi/efivars ]; then
  mount -t efivarfs efivarfs /sys/firmware/efi/efivars || fail "mount efivarfs"
fi
deaf=0
run=
for w in $(cat /proc/cmdline); do
  case "$w" in
  vmtest.deaf=1) deaf=1 ;;
  vmtest.run=*) run="\${w#vmtest.run=}" ;;
  esac
done
# Event devices of every input device named "Power Button"; devtmpfs creates
# the nodes asynchronously, so wait for them a little.
events=
tries=0
while [ -z "$events" ] && [ "$tries" -lt 100 ]; do
  for n in /sys/class/input/input*/name; do
    [ "$(cat "$n" 2>/dev/null)" = "Power Button" ] || continue
    for e in "\${n%/name}"/event*; do
      [ -c "/dev/input/\${e##*/}" ] && events="$events /dev/input/\${e##*/}"
    done
  done
  [ -n "$events" ] || { tries=$((tries + 1)); sleep 0.05; }
done
if [ -z "$events" ]; then
  fail "no power button input device found"
elif [ "$deaf" = 0 ]; then
  # Open each device here, before GUEST-READY: evdev gives an event only to
  # readers that have the device open, and a background job may not have
  # opened it yet when a loaded host presses the button right after the marker.
  fd=3
  for ev in $events; do
    eval "exec $fd<$ev"
    (head -c 24 <&$fd >/dev/null && echo ${GUEST_POWERDOWN} && poweroff -f) &
    fd=$((fd + 1))
  done
fi
echo ${GUEST_READY}
if [ -n "$run" ]; then
  echo "$run" | base64 -d >/tmp/run.sh || fail "vmtest.run is not base64"
  (sh /tmp/run.sh </dev/null >/dev/console 2>&1 &)
fi
# A shell on the serial console that comes back when it exits.
while true; do
  setsid cttyhack sh
  sleep 0.2
done
`;

/** busybox udhcpc's script (`udhcpc -s /etc/udhcpc.script`): sets the address it got. */
const UDHCPC_SCRIPT = `#!/bin/busybox sh
case "$1" in
deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
bound | renew)
  ip addr flush dev "$interface"
  ip addr add "$ip/$mask" dev "$interface"
  [ -z "$router" ] || ip route add default via "\${router%% *}" dev "$interface"
  echo "UDHCPC-BOUND $interface $ip/$mask"
  ;;
esac
`;

/** Returns the cache directory ($VM_TEST_CACHE or ~/.cache/vm-test-guest). */
export function cacheRoot(): string {
  const env = Deno.env.get("VM_TEST_CACHE");
  if (env) return env;
  const home = Deno.env.get("HOME") || homedir();
  return `${home}/.cache/vm-test-guest`;
}

/** Runs a command; returns its stdout, or throws with its stderr. */
async function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; hint?: string } = {},
): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, {
      args,
      cwd: opts.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        `test guest: command not found: ${cmd}` + (opts.hint ? `\n${opts.hint}` : ""),
        { cause: e },
      );
    }
    throw e;
  }
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim();
    throw new Error(
      `test guest: \`${cmd} ${args.join(" ")}\` failed (exit ${out.code})` +
        (err ? `: ${err}` : "") + (opts.hint ? `\n${opts.hint}` : ""),
    );
  }
  return new TextDecoder().decode(out.stdout);
}

const APT_HINT = "Is this a Debian machine with the Debian apt repositories reachable? " +
  "Try `apt-get update` (as root).";

/** The versioned kernel package the meta package depends on, and its version. */
async function resolveKernelPackage(arch: GuestArch): Promise<
  { name: string; version: string }
> {
  const { kernelMeta, debArch } = ARCHES[arch];
  const KERNEL_META_PACKAGE = arch === "x86_64" ? kernelMeta : `${kernelMeta}:${debArch}`;
  // One apt-cache call (each takes ~0.6 s): Debian's meta package depends on
  // the exact version, e.g. "Depends: linux-image-6.1.0-56-cloud-amd64 (=
  // 6.1.192-2)".
  const meta = await run(
    "apt-cache",
    ["show", "--no-all-versions", KERNEL_META_PACKAGE],
    { hint: APT_HINT },
  );
  const dep = /^Depends:.*?\b(linux-image-[^\s,(|]+)(?:\s*\(=\s*([^)\s]+)\))?/m
    .exec(meta);
  const name = dep?.[1];
  if (!name) {
    throw new Error(
      `test guest: cannot find the kernel package ${KERNEL_META_PACKAGE} ` +
        `depends on (apt-cache show printed: ${JSON.stringify(meta)}). ` +
        APT_HINT,
    );
  }
  let version: string | undefined = dep[2];
  if (!version) {
    const show = await run("apt-cache", ["show", "--no-all-versions", qualified(name, arch)], {
      hint: APT_HINT,
    });
    version = /^Version:\s*(\S+)/m.exec(show)?.[1];
  }
  if (!version) {
    throw new Error(
      `test guest: no version for ${name} in \`apt-cache show\`. ${APT_HINT}`,
    );
  }
  return { name, version };
}

/** A package name as apt names it for `arch`'s Debian architecture (`name:arm64`). Pure. */
function qualified(name: string, arch: GuestArch): string {
  return arch === "x86_64" ? name : `${name}:${ARCHES[arch].debArch}`;
}

/**
 * Makes apt know packages of `arch` (a foreign architecture: `dpkg
 * --add-architecture`, then `apt-get update`) when it does not yet.
 */
async function ensureForeignArch(arch: GuestArch): Promise<void> {
  if (arch === "x86_64") return;
  const debArch = ARCHES[arch].debArch;
  const known = (await run("dpkg", ["--print-foreign-architectures"])).split("\n");
  if (known.includes(debArch)) return;
  await run("dpkg", ["--add-architecture", debArch], { hint: APT_HINT });
  await run("apt-get", ["update", "-q"], { hint: APT_HINT });
}

/** Downloads package `spec` (`name=version`) into `dir`; the .deb's path. */
async function download(spec: string, dir: string): Promise<string> {
  await run("apt-get", ["download", spec], { cwd: dir, hint: APT_HINT });
  const name = spec.replace(/[:=].*$/, "");
  const deb = [...Deno.readDirSync(dir)]
    .find((e) => e.isFile && e.name.startsWith(`${name}_`) && e.name.endsWith(".deb"))?.name;
  if (!deb) throw new Error(`test guest: apt-get download ${spec} left no .deb in ${dir}`);
  return `${dir}/${deb}`;
}

/** sha256 hex of a string. */
function sha256(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

/** Whether a path exists (following symlinks). */
async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Recursively lists regular files under dir (symlinks are not followed). */
async function walkFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) files.push(...await walkFiles(p));
    else if (e.isFile) files.push(p);
  }
  return files;
}

/** Reads a kernel module, decompressing .ko.gz/.ko.xz/.ko.zst. */
async function readModule(path: string): Promise<Uint8Array> {
  if (path.endsWith(".ko")) return await Deno.readFile(path);
  if (path.endsWith(".ko.gz")) {
    return new Uint8Array(gunzipSync(await Deno.readFile(path)));
  }
  const tool = path.endsWith(".ko.xz") ? "xz" : path.endsWith(".ko.zst") ? "zstd" : undefined;
  if (!tool) throw new Error(`test guest: unknown module format: ${path}`);
  const out = await new Deno.Command(tool, {
    args: ["-dc", path],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output().catch((e) => {
    throw new Error(`test guest: need \`${tool}\` to decompress ${path}`, {
      cause: e,
    });
  });
  if (!out.success) {
    throw new Error(
      `test guest: \`${tool} -dc ${path}\` failed: ` +
        new TextDecoder().decode(out.stderr),
    );
  }
  return out.stdout;
}

/** The `depends=` entry of a module's .modinfo section. */
function moduleDepends(ko: Uint8Array): string[] {
  const text = new TextDecoder("latin1").decode(ko);
  const at = text.indexOf("\0depends=");
  if (at < 0) return [];
  const start = at + "\0depends=".length;
  const end = text.indexOf("\0", start);
  return text.slice(start, end < 0 ? undefined : end).split(",")
    .filter((d) => d !== "");
}

/** Module name of a module file path ("foo-bar.ko.xz" -> "foo_bar"). */
function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf("/") + 1);
  return base.replace(/\.ko(\.(gz|xz|zst))?$/, "").replaceAll("-", "_");
}

/** One entry of the initramfs. */
interface CpioEntry {
  name: string;
  mode: number;
  data?: Uint8Array;
  rdevMajor?: number;
  rdevMinor?: number;
}

/** Serializes entries as an uncompressed newc ("070701") cpio archive. */
function newcArchive(entries: readonly CpioEntry[]): Uint8Array {
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const push = (b: Uint8Array) => {
    chunks.push(b);
    size += b.length;
  };
  const pad = () => {
    if (size % 4) push(new Uint8Array(4 - (size % 4)));
  };
  const hex = (n: number) => n.toString(16).padStart(8, "0");
  const all = [...entries, { name: "TRAILER!!!", mode: 0 }];
  all.forEach((e, i) => {
    const data = e.data ?? new Uint8Array(0);
    const name = enc.encode(e.name + "\0");
    const isDir = (e.mode & 0o170000) === 0o040000;
    const fields = [
      e.name === "TRAILER!!!" ? 0 : i + 1, // ino
      e.mode,
      0, // uid
      0, // gid
      isDir ? 2 : 1, // nlink
      0, // mtime
      data.length,
      0, // devmajor
      0, // devminor
      e.rdevMajor ?? 0,
      e.rdevMinor ?? 0,
      name.length,
      0, // check
    ];
    push(enc.encode("070701" + fields.map(hex).join("")));
    push(name);
    pad();
    push(data);
    pad();
  });
  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Downloads the kernel package and builds the guest's files into dir. */
async function buildInto(
  dir: string,
  pkg: { name: string; version: string },
  arch: GuestArch,
): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: "vm-test-guest-" });
  try {
    const deb = await download(`${qualified(pkg.name, arch)}=${pkg.version}`, work);
    const root = `${work}/root`;
    await run("dpkg-deb", ["-x", deb, root]);

    const boot = [...Deno.readDirSync(`${root}/boot`)].map((e) => e.name);
    const vmlinuz = boot.find((n) => n.startsWith("vmlinuz-"));
    if (!vmlinuz) throw new Error(`test guest: no boot/vmlinuz-* in ${deb}`);
    const config = boot.find((n) => n.startsWith("config-"));
    const configText = config ? await Deno.readTextFile(`${root}/boot/${config}`) : "";

    // Kernel modules: /lib/modules or (merged /usr) /usr/lib/modules.
    let modDir: string | undefined;
    for (const base of [`${root}/lib/modules`, `${root}/usr/lib/modules`]) {
      if (!await exists(base)) continue;
      const ver = [...Deno.readDirSync(base)].find((e) => e.isDirectory);
      if (ver) modDir = `${base}/${ver.name}`;
    }
    const byName = new Map<string, string>();
    const builtin = new Set<string>();
    if (modDir) {
      for (const f of await walkFiles(modDir)) {
        if (/\.ko(\.(gz|xz|zst))?$/.test(f)) byName.set(moduleName(f), f);
      }
      if (await exists(`${modDir}/modules.builtin`)) {
        for (
          const l of (await Deno.readTextFile(`${modDir}/modules.builtin`))
            .split("\n")
        ) {
          if (l.trim()) builtin.add(moduleName(l.trim()));
        }
      }
    }
    // Load order: dependencies first.
    const ordered: { name: string; data: Uint8Array }[] = [];
    const seen = new Set<string>();
    const add = async (name: string, config?: string): Promise<void> => {
      if (seen.has(name)) return;
      seen.add(name);
      const file = byName.get(name);
      if (!file) {
        const isBuiltin = builtin.has(name) ||
          (config !== undefined &&
            new RegExp(`^${config}=y$`, "m").test(configText));
        if (isBuiltin) return;
        throw new Error(
          `test guest: kernel module ${name} is neither in ${deb} ` +
            `nor built in`,
        );
      }
      const data = await readModule(file);
      for (const dep of moduleDepends(data)) {
        await add(dep.replaceAll("-", "_"));
      }
      ordered.push({ name, data });
    };
    for (const m of ARCHES[arch].modules) await add(m.name, m.config);

    const enc = new TextEncoder();
    const dirs = [
      "bin",
      "dev",
      "etc",
      "lib",
      "lib/modules",
      "proc",
      "root",
      "sbin",
      "sys",
      "tmp",
      "usr",
      "usr/bin",
      "usr/sbin",
    ];
    const entries: CpioEntry[] = [
      ...dirs.map((name) => ({
        name,
        mode: name === "tmp" ? 0o041777 : 0o040755,
      })),
      { name: "dev/console", mode: 0o020600, rdevMajor: 5, rdevMinor: 1 },
      { name: "bin/busybox", mode: 0o100755, data: await readBusybox(arch, work) },
      { name: "init", mode: 0o100755, data: enc.encode(INIT_SCRIPT) },
      { name: "etc/udhcpc.script", mode: 0o100755, data: enc.encode(UDHCPC_SCRIPT) },
      ...ordered.map((m, i) => ({
        name: `lib/modules/${String(i).padStart(2, "0")}-${m.name}.ko`,
        mode: 0o100644,
        data: m.data,
      })),
    ];
    await Deno.writeFile(`${dir}/initrd`, newcArchive(entries));
    await Deno.copyFile(`${root}/boot/${vmlinuz}`, `${dir}/bzImage`);
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/**
 * Reads the static busybox of `arch`, checking that it is static: this
 * host's for x86_64, else Debian's busybox-static of that architecture,
 * downloaded into `work`.
 */
async function readBusybox(arch: GuestArch, work: string): Promise<Uint8Array> {
  let path = BUSYBOX;
  if (arch !== "x86_64") {
    const deb = await download(qualified("busybox-static", arch), work);
    await run("dpkg-deb", ["-x", deb, `${work}/busybox-root`]);
    path = `${work}/busybox-root${BUSYBOX}`;
  }
  let data: Uint8Array;
  try {
    data = await Deno.readFile(path);
  } catch (e) {
    throw new Error(
      `test guest: cannot read ${path}; install Debian's busybox-static`,
      { cause: e },
    );
  }
  if (hasInterpreter(data)) {
    throw new Error(
      `test guest: ${path} is not statically linked; ` +
        "install Debian's busybox-static",
    );
  }
  return data;
}

/** Whether an ELF64 little-endian file has a PT_INTERP (is dynamically linked). */
export function hasInterpreter(elf: Uint8Array): boolean {
  const v = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (elf.length < 64 || v.getUint32(0) !== 0x7f454c46) return false;
  const phoff = Number(v.getBigUint64(0x20, true));
  const phentsize = v.getUint16(0x36, true);
  const phnum = v.getUint16(0x38, true);
  for (let i = 0; i < phnum; i++) {
    const off = phoff + i * phentsize;
    if (off + 4 <= elf.length && v.getUint32(off, true) === 3) return true;
  }
  return false;
}

const cached = new Map<GuestArch, Promise<TestGuest>>();

/**
 * Builds (once, cached) and returns the test guest of `arch` (default x86_64).
 *
 * Cache dir: $VM_TEST_CACHE or ~/.cache/vm-test-guest, with one subdirectory
 * per kernel package version and hash of the init script, so a changed init
 * rebuilds. Safe when called concurrently by several test processes: each
 * builds into a temp dir in the cache dir, then renames it into place.
 */
export async function testGuest(arch: GuestArch = "x86_64"): Promise<TestGuest> {
  let p = cached.get(arch);
  if (p === undefined) {
    p = findOrBuild(arch).catch((e) => {
      cached.delete(arch);
      throw e;
    });
    cached.set(arch, p);
  }
  return await p;
}

/** The guest of `arch` whose files are in `dir`. Pure. */
function guestIn(dir: string, arch: GuestArch): TestGuest {
  const guest: TestGuest = { kernel: `${dir}/bzImage`, initrd: `${dir}/initrd` };
  if (arch !== "x86_64") guest.arch = arch;
  return guest;
}

async function findOrBuild(arch: GuestArch): Promise<TestGuest> {
  const root = cacheRoot();
  const hash = sha256(`${LAYOUT_VERSION}\0${arch}\0${INIT_SCRIPT}`).slice(0, 16);
  let pkg: { name: string; version: string };
  try {
    await ensureForeignArch(arch);
    pkg = await resolveKernelPackage(arch);
  } catch (e) {
    // No usable apt (offline, not Debian): fall back to a cached build.
    const fallback = await newestCached(root, hash, arch);
    if (fallback) return fallback;
    throw e;
  }
  const key = `${pkg.name}_${pkg.version}_${hash}`.replace(
    /[^A-Za-z0-9._+-]/g,
    "_",
  );
  const dir = `${root}/${key}`;
  const guest = guestIn(dir, arch);
  if (await exists(guest.kernel) && await exists(guest.initrd)) return guest;

  await Deno.mkdir(root, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: root, prefix: ".build-" });
  try {
    await buildInto(tmp, pkg, arch);
    await Deno.chmod(tmp, 0o755);
    try {
      await Deno.rename(tmp, dir);
    } catch (e) {
      // Lost a race with another process: use its (complete) build.
      if (!(await exists(guest.kernel) && await exists(guest.initrd))) {
        throw e;
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  return guest;
}

/** The most recently built cached guest whose init script hash is `hash`. */
async function newestCached(
  root: string,
  hash: string,
  arch: GuestArch,
): Promise<TestGuest | undefined> {
  let best: { guest: TestGuest; mtime: number } | undefined;
  try {
    for await (const e of Deno.readDir(root)) {
      if (!e.isDirectory || !e.name.endsWith(`_${hash}`)) continue;
      const guest = guestIn(`${root}/${e.name}`, arch);
      if (!await exists(guest.kernel) || !await exists(guest.initrd)) continue;
      const mtime = (await Deno.stat(guest.initrd)).mtime?.getTime() ?? 0;
      if (!best || mtime > best.mtime) best = { guest, mtime };
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return best?.guest;
}

/**
 * The kernel command line: the obeying or the power-button-deaf variant, on
 * the serial console of `arch` (default x86_64), with `run` (a shell script
 * the guest's init runs after GUEST-READY, base64-encoded: keep it short, a
 * kernel command line holds ~2 KiB) when given.
 */
export function guestAppend(
  opts: { deaf?: boolean; arch?: GuestArch; run?: string } = {},
): string {
  const console = ARCHES[opts.arch ?? "x86_64"].console;
  return `console=${console} quiet panic=-1` + (opts.deaf ? " vmtest.deaf=1" : "") +
    (opts.run === undefined ? "" : ` vmtest.run=${btoa(opts.run)}`);
}

/**
 * Default guest memory. Not 64M: Debian's cloud kernel needs more than that
 * just to decompress itself (its bzImage header asks for ~51.5 MiB of
 * `init_size` at the 16 MiB load address, so with 64M QEMU exits at once
 * without a byte on the console), and with 72M it runs out of memory while
 * unpacking the initramfs. 80M boots; 128M leaves a margin and costs nothing
 * (QEMU allocates guest RAM lazily).
 */
const DEFAULT_MEM = "128M";

/**
 * QEMU arguments to boot the guest (no -qmp/-monitor/-serial; the caller adds
 * those): -accel tcg -m <mem, default 128M> -display none -no-reboot -kernel
 * -initrd -append; for an aarch64 guest first `-machine virt -cpu max`. Each
 * argument is one array element. `run`: see {@link guestAppend}.
 */
export function guestArgs(
  g: TestGuest,
  opts: { deaf?: boolean; mem?: string; run?: string } = {},
): string[] {
  return [
    ...(g.arch === "aarch64" ? ["-machine", "virt", "-cpu", "max"] : []),
    "-accel",
    "tcg",
    "-m",
    opts.mem ?? DEFAULT_MEM,
    "-display",
    "none",
    "-no-reboot",
    "-kernel",
    g.kernel,
    "-initrd",
    g.initrd,
    "-append",
    guestAppend({ ...opts, ...(g.arch === undefined ? {} : { arch: g.arch }) }),
  ];
}

/** Polls a file until it contains `text` or timeoutMs passes; returns whether it appeared. */
export async function waitForText(
  file: string,
  text: string,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await Deno.readTextFile(file)).includes(text)) return true;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
