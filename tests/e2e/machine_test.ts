// The machine of a VM (issue 24): an x86_64 VM with UEFI and a TPM (swtpm as its companion),
// a Secure Boot VM, an aarch64 VM, a Windows VM's command line. Real QEMU under TCG, real OVMF
// and AAVMF, real swtpm; the busybox test guest booted by its kernel through the firmware. One
// boot per situation (the TPM's VM three: its restart and a kill -9 of QEMU).
// Slow (about 1m40s under TCG): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { companionsIn } from "../../lib/qemu/processes.ts";
import { quoteWords } from "../../lib/text/shell_words.ts";
import { guestArgs, testGuest } from "../support/guest.ts";
import { qemuUp, readOr, run, test, type TestEnv, waitFor } from "../support/harness.ts";

/** Boot of a guest under TCG through the firmware (2 cores shared with other tests). */
const BOOT_MS = 120_000;

/** The TPM's ReadClock command (TPM2_CC_ReadClock, no sessions), in octal for busybox printf. */
const READ_CLOCK = "\\200\\001\\000\\000\\000\\012\\000\\000\\001\\201";

/**
 * Makes VM `name` with `flags` (down, small disk, its log on) and gives it the test guest of
 * `arch` through a `guest` template running `script` after GUEST-READY, its console in guest.log.
 */
async function machineVm(
  t: TestEnv,
  name: string,
  flags: string[],
  script: string,
  arch: "x86_64" | "aarch64" = "x86_64",
): Promise<string> {
  const r = await t.vm(["make", name, "--disk", "16M", "--log", "-y", ...flags], {
    env: { VMCONF_DEFAULT_TEMPLATES: "display-none" },
  });
  assert.equal(r.code, 0, r.stderr);
  const dir = t.dir(name);
  const args = [
    ...guestArgs(await testGuest(arch), { mem: "256M", run: script }),
    "-chardev",
    "file,id=ser0,path=guest.log,append=on",
    "-serial",
    "chardev:ser0",
  ];
  Deno.writeTextFileSync(join(dir, "templates", "guest"), quoteWords(args) + "\n", { mode: 0o600 });
  return dir;
}

/** The words after each `prefix` on the guest's console (a line may follow the shell's prompt). */
function marks(dir: string, prefix: string): string[] {
  const text = readOr(join(dir, "guest.log"));
  return [...text.matchAll(new RegExp(`${prefix}([^\\s]*)`, "g"))].map((m) => m[1] ?? "");
}

/** Waits until the console has `n` lines starting with `prefix`. */
async function waitMarks(dir: string, prefix: string, n: number): Promise<string[]> {
  const ok = await waitFor(() => marks(dir, prefix).length >= n, BOOT_MS);
  assert.ok(
    ok,
    `no ${prefix} (${n}) on the console: ${readOr(join(dir, "guest.log")).slice(-2000)}`,
  );
  return marks(dir, prefix);
}

/** The swtpm companions of the VM in `dir`. */
function swtpms(dir: string): number[] {
  return companionsIn(dir, { children: false }).filter((p) => p.name === "swtpm").map((p) => p.pid);
}

/** Mode bits of `path`. */
function mode(path: string): number {
  return (Deno.statSync(path).mode ?? 0) & 0o777;
}

/** The uefi + tpm test's steps (see the test). */
async function tpmVm(t: TestEnv): Promise<void> {
  const script = [
    "[ -d /sys/firmware/efi ] && echo EFI-DIR=yes",
    "echo TPM-MAJOR=$(cat /sys/class/tpm/tpm0/tpm_version_major)",
    "exec 3<>/dev/tpm0",
    `printf '${READ_CLOCK}' >&3`,
    "echo TPM-CLOCK=$(dd bs=64 count=1 <&3 2>/dev/null | od -An -tx1 | tr -d ' \\n')",
  ].join("\n");
  const dir = await machineVm(t, "tp", ["--firmware", "uefi", "--tpm"], script);
  // Private whatever the umask: the vars file, the TPM's state directory.
  assert.equal(mode(join(dir, "efivars.fd")), 0o600);
  assert.equal(mode(join(dir, "tpm")), 0o700);
  assert.equal(Deno.readTextFileSync(join(dir, "arch")), "x86_64\n");
  const args = await t.vm(["args", "tp"]);
  assert.equal(args.code, 0, args.stderr);
  assert.match(args.stdout, /if=pflash,format=raw,unit=0,readonly=on,file=\/\S+OVMF\S+\.fd/);
  assert.match(args.stdout, /tpm-crb,tpmdev=tpm0/);
  t.startRunsvdir();
  const start = await t.vm(["start", "tp"]);
  assert.equal(start.code, 0, start.stderr);
  const first = await waitMarks(dir, "TPM-CLOCK=", 1);
  assert.deepEqual(marks(dir, "EFI-DIR="), ["yes"]);
  assert.deepEqual(marks(dir, "TPM-MAJOR="), ["2"]);
  assert.equal(swtpms(dir).length, 1, "exactly one swtpm while the VM runs");
  const list = JSON.parse((await t.vm(["list", "--json"])).stdout);
  assert.deepEqual([list[0].arch, list[0].firmware, list[0].tpm], ["x86_64", "uefi", true]);

  const stop = await t.vm(["stop", "tp"]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.ok(await waitFor(() => swtpms(dir).length === 0, 5000), "no swtpm after vm stop");
  for (const e of Deno.readDirSync(join(dir, "tpm"))) {
    if (e.isFile) assert.equal(mode(join(dir, "tpm", e.name)) & 0o077, 0, e.name);
  }

  // The next start finds the TPM's state: its reset count goes on from the last run's.
  const again = await t.vm(["start", "tp"]);
  assert.equal(again.code, 0, again.stderr);
  const second = await waitMarks(dir, "TPM-CLOCK=", 2);
  const resets = [first[0], second[1]].map((hex) => parseInt((hex ?? "").slice(52, 60), 16));
  assert.ok(
    (resets[1] ?? 0) > (resets[0] ?? 0),
    `reset count ${resets.join(" then ")}: state lost (${first[0]} / ${second[1]})`,
  );

  // kill -9 of QEMU: its swtpm ends with its connection; runsv's new QEMU gets one new swtpm.
  const [old] = swtpms(dir);
  const qemu = await qemuUp(dir);
  // Within the crash-loop window runsv restarts it after a backoff of a second or two.
  Deno.kill(qemu, "SIGKILL");
  const next = await qemuUp(dir, qemu, 30_000);
  assert.notEqual(next, qemu);
  assert.ok(
    await waitFor(() => {
      const s = swtpms(dir);
      return s.length === 1 && s[0] !== old;
    }, 15_000),
    `one new swtpm after kill -9 of QEMU: ${swtpms(dir).join(" ")} (old ${old})`,
  );
  const end = await t.vm(["stop", "tp"]);
  assert.equal(end.code, 0, end.stderr);
  assert.ok(await waitFor(() => swtpms(dir).length === 0, 5000), "no swtpm after the last stop");

  // export tar | import tar carries arch, the vars and the TPM's state, byte for byte, private.
  const tar = join(t.root, "tp.tar");
  const ex = await t.vm(["export", "tar", "tp", tar]);
  assert.equal(ex.code, 0, ex.stderr);
  const im = await t.vm(["import", "tar", tar, "tp2"]);
  assert.equal(im.code, 0, im.stderr);
  const moved = t.dir("tp2");
  const state = [...Deno.readDirSync(join(dir, "tpm"))].filter((e) =>
    e.isFile && e.name !== ".lock"
  )
    .map((e) => `tpm/${e.name}`);
  assert.ok(state.length > 0, "swtpm left its state in tpm/");
  for (const f of ["arch", "efivars.fd", ...state]) {
    assert.deepEqual(Deno.readFileSync(join(moved, f)), Deno.readFileSync(join(dir, f)), f);
    assert.equal(mode(join(moved, f)), 0o600, f);
  }
  assert.equal(mode(join(moved, "tpm")), 0o700);
}

test("uefi + tpm: the guest sees EFI and a TPM 2.0; one swtpm while it runs, none after; state kept", async (t) => {
  // Everything vm writes is private whatever the umask: this test's processes (vm, runsvdir,
  // __run, swtpm) start under umask 000.
  const umask = Deno.umask(0);
  try {
    await tpmVm(t);
  } finally {
    Deno.umask(umask);
  }
});

test("secure-boot: the guest reads SecureBoot = 1 from its efivars", async (t) => {
  const script = "echo SB=$(od -An -tx1 " +
    "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c | tr -d ' \\n')";
  const dir = await machineVm(t, "sb", ["--secure-boot"], script);
  t.startRunsvdir();
  const start = await t.vm(["start", "sb"]);
  assert.equal(start.code, 0, start.stderr);
  const [sb] = await waitMarks(dir, "SB=", 1);
  assert.match(sb ?? "", /01$/, `SecureBoot variable: ${sb}`);
  const stop = await t.vm(["stop", "sb"]);
  assert.equal(stop.code, 0, stop.stderr);
});

test("aarch64: qemu-system-aarch64, machine virt, UEFI, TPM; the guest says aarch64", async (t) => {
  const script =
    "echo ARCH=$(uname -m)\necho TPM-MAJOR=$(cat /sys/class/tpm/tpm0/tpm_version_major)";
  const dir = await machineVm(t, "arm", ["--arch", "aarch64", "--tpm"], script, "aarch64");
  assert.equal(Deno.readTextFileSync(join(dir, "arch")), "aarch64\n");
  const info = await t.vm(["info", "arm"]);
  assert.match(info.stdout, /^arch: +aarch64$/m);
  assert.match(info.stdout, /^firmware: +uefi$/m);
  const args = JSON.parse((await t.vm(["args", "arm", "--json"])).stdout) as string[];
  assert.match(args[0] ?? "", /qemu-system-aarch64$/);
  assert.ok(args.includes("virt") && args.some((a) => /AAVMF_CODE/.test(a)), args.join(" "));
  // Nomad's qemu driver runs x86_64 only: one line.
  const nomad = await t.vm(["export", "nomad", "arm", "--image-url", "http://x/y.qcow2"]);
  assert.equal(nomad.code, 100);
  assert.match(
    nomad.stderr,
    /^vm: fatal: VM "arm" is aarch64; Nomad's qemu driver runs x86_64 VMs only .*\n$/,
  );
  t.startRunsvdir();
  const start = await t.vm(["start", "arm"]);
  assert.equal(start.code, 0, start.stderr);
  assert.deepEqual(await waitMarks(dir, "ARCH=", 1), ["aarch64"]);
  assert.deepEqual(await waitMarks(dir, "TPM-MAJOR=", 1), ["2"]);
  assert.equal(swtpms(dir).length, 1);
  const stop = await t.vm(["stop", "arm"]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.ok(await waitFor(() => swtpms(dir).length === 0, 5000), "no swtpm after vm stop");
});

test("--windows: vm args holds every device; refusals are one line", async (t) => {
  const iso = join(t.root, "win.iso");
  const drivers = join(t.root, "virtio-win.iso");
  for (const f of [iso, drivers]) Deno.writeFileSync(f, new Uint8Array(1 << 20));
  const r = await t.vm(["make", "win", iso, "--windows", "--drivers", drivers, "-y"]);
  assert.equal(r.code, 0, r.stderr);
  const args = (await t.vm(["args", "win"])).stdout;
  for (
    const want of [
      "-machine q35,smm=on",
      "-global driver=cfi.pflash01,property=secure,value=on",
      "OVMF_CODE_4M.ms.fd",
      "unit=1,file=./efivars.fd",
      "-device tpm-crb,tpmdev=tpm0",
      "-m 4G",
      "-nic user,model=e1000e",
      "-device usb-tablet",
      "hv_relaxed,hv_vapic,hv_spinlocks=0x1fff,hv_time",
      "-rtc base=localtime",
      `file=${drivers},media=cdrom`,
      `-cdrom ${iso}`,
    ]
  ) assert.ok(args.includes(want), `${want} missing from: ${args}`);
  const img = JSON.parse(
    (await run("qemu-img", ["info", "--output=json", join(t.dir("win"), "drive.qcow2")])).stdout,
  );
  assert.equal(img["virtual-size"], 64 * 1024 ** 3);
  // Its libvirt domain: UEFI with Secure Boot and its vars, SMM, the TPM; schema-valid.
  const lv = await t.vm(["export", "libvirt", "win"]);
  assert.equal(lv.code, 0, lv.stderr);
  for (
    const want of [
      "<type arch='x86_64' machine='q35'>hvm</type>",
      "<os firmware='efi'>",
      "<feature enabled='yes' name='secure-boot'/>",
      "<feature enabled='yes' name='enrolled-keys'/>",
      "<loader secure='yes'/>",
      `<nvram>${t.dir("win")}/efivars.fd</nvram>`,
      "<smm state='on'/>",
      "<tpm model='tpm-crb'>",
      "<backend type='emulator' version='2.0'/>",
      "<model type='e1000e'/>",
      "<input type='tablet' bus='usb'/>",
      "<clock offset='localtime'/>",
    ]
  ) assert.ok(lv.stdout.includes(want), `${want} missing from: ${lv.stdout}`);
  const xml = join(t.root, "win.xml");
  Deno.writeTextFileSync(xml, lv.stdout);
  const valid = await run("virt-xml-validate", [xml, "domain"]);
  assert.equal(valid.code, 0, valid.stdout + valid.stderr);
  for (
    const bad of [
      ["make", "x", "--arch", "sparc", "-y"],
      ["make", "x", "--firmware", "bios", "--secure-boot", "-y"],
      ["make", "x", "--arch", "aarch64", "--windows", "-y"],
      ["make", "x", "--drivers", drivers, "-y"],
      ["make", "x", "--firmware", "efi", "-y"],
    ]
  ) {
    const b = await t.vm(bad);
    assert.equal(b.code, 100, bad.join(" "));
    assert.equal(b.stderr.trim().split("\n").length, 1, b.stderr);
    assert.ok(!Deno.readDirSync(t.vmdir).some((e) => e.name.includes("x")));
  }
});
