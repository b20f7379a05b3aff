// The machine of a VM (issue 24), its pure parts: QEMU's firmware descriptors parsed and chosen
// from, the templates a machine choice adds, the QEMU program of an arch, swtpm's argv.

import assert from "node:assert/strict";
import {
  chooseFirmware,
  descriptorPaths,
  type Firmware,
  fits,
  missingFirmwareLine,
  parseDescriptor,
} from "../../lib/qemu/firmware.ts";
import { checkArch, defaultFirmware, firmwarePackage, qemuPackage } from "../../lib/qemu/arch.ts";
import { findQemu, qemuProgram } from "../../lib/qemu/program.ts";
import { archKvmProblem, machineTemplates, usesTpm } from "../../lib/vm/machine.ts";
import { findSwtpm, swtpmCompanion } from "../../lib/vm/tpm.ts";
import { diskRefs } from "../../lib/qemu/drives.ts";
import { driversTemplate, machineOfTemplates } from "../../lib/actions/make.ts";
import { archOf } from "../../lib/export/libvirt_import.ts";
import { parseXml } from "../../lib/export/xml.ts";
import { parseTemplate } from "../../lib/vm/templates.ts";
import { SystemError, UsageError } from "../../lib/errors.ts";

/** A descriptor as Debian's ovmf and qemu-efi-aarch64 ship them. */
function descriptor(
  code: string,
  vars: string,
  arch: string,
  machines: string[],
  features: string[],
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    description: "x",
    "interface-types": ["uefi"],
    mapping: {
      device: "flash",
      executable: { filename: code, format: "raw" },
      "nvram-template": { filename: vars, format: "raw" },
    },
    targets: [{ architecture: arch, machines }],
    features,
    tags: [],
    ...extra,
  });
}

const DEBIAN: Firmware[] = [
  ["40-edk2-x86_64-secure-enrolled.json", "OVMF_CODE_4M.ms.fd", "OVMF_VARS_4M.ms.fd", "x86_64", [
    "pc-q35-*",
  ], ["acpi-s3", "enrolled-keys", "requires-smm", "secure-boot"]],
  ["50-edk2-x86_64-secure.json", "OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.fd", "x86_64", [
    "pc-q35-*",
  ], ["acpi-s3", "requires-smm", "secure-boot"]],
  ["60-edk2-aarch64.json", "AAVMF_CODE.fd", "AAVMF_VARS.fd", "aarch64", ["virt-*"], [
    "verbose-static",
  ]],
  ["60-edk2-x86_64.json", "OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd", "x86_64", [
    "pc-i440fx-*",
    "pc-q35-*",
  ], ["acpi-s3"]],
].map(([file, code, vars, arch, machines, features]) => {
  const fw = parseDescriptor(
    file as string,
    descriptor(
      code as string,
      vars as string,
      arch as string,
      machines as string[],
      features as string[],
    ),
  );
  assert.ok(fw !== undefined, String(file));
  return fw;
});

Deno.test("parseDescriptor: a UEFI flash firmware in split mode; anything else is none", () => {
  const fw = parseDescriptor(
    "a.json",
    descriptor("/c.fd", "/v.fd", "x86_64", ["pc-q35-*"], ["secure-boot"]),
  );
  assert.deepEqual(fw, {
    file: "a.json",
    code: "/c.fd",
    varsTemplate: "/v.fd",
    targets: [{ arch: "x86_64", machines: ["pc-q35-*"] }],
    features: ["secure-boot"],
  });
  assert.equal(parseDescriptor("b", "{not json"), undefined);
  assert.equal(parseDescriptor("b", "[]"), undefined);
  assert.equal(
    parseDescriptor("b", descriptor("/c", "/v", "x86_64", [], [], { "interface-types": ["bios"] })),
    undefined,
  );
  assert.equal(
    parseDescriptor(
      "b",
      descriptor("/c", "/v", "x86_64", [], [], { mapping: { device: "memory" } }),
    ),
    undefined,
  );
  const qcow = JSON.parse(descriptor("/c", "/v", "x86_64", [], []));
  qcow.mapping.executable.format = "qcow2";
  assert.equal(parseDescriptor("b", JSON.stringify(qcow)), undefined);
  const stateless = JSON.parse(descriptor("/c", "/v", "x86_64", [], []));
  stateless.mapping.mode = "stateless";
  assert.equal(parseDescriptor("b", JSON.stringify(stateless)), undefined);
});

Deno.test("chooseFirmware: by arch, Secure Boot with enrolled keys and SMM, or neither", () => {
  assert.equal(
    chooseFirmware(DEBIAN, { arch: "x86_64", secureBoot: false })?.code,
    "OVMF_CODE_4M.fd",
  );
  assert.equal(
    chooseFirmware(DEBIAN, { arch: "x86_64", secureBoot: true })?.code,
    "OVMF_CODE_4M.ms.fd",
  );
  assert.equal(
    chooseFirmware(DEBIAN, { arch: "x86_64", secureBoot: true })?.varsTemplate,
    "OVMF_VARS_4M.ms.fd",
  );
  assert.equal(
    chooseFirmware(DEBIAN, { arch: "aarch64", secureBoot: false })?.code,
    "AAVMF_CODE.fd",
  );
  assert.equal(chooseFirmware(DEBIAN, { arch: "aarch64", secureBoot: true }), undefined);
  assert.equal(chooseFirmware(DEBIAN, { arch: "riscv64", secureBoot: false }), undefined);
  // The secure image without enrolled keys is never taken for Secure Boot.
  const secureOnly = DEBIAN.filter((f) => f.file.startsWith("50-"));
  assert.equal(chooseFirmware(secureOnly, { arch: "x86_64", secureBoot: true }), undefined);
  // A q35-only plain firmware does not fit QEMU's default pc machine.
  const q35 = { ...DEBIAN[3], targets: [{ arch: "x86_64", machines: ["pc-q35-*"] }] } as Firmware;
  assert.equal(fits(q35, { arch: "x86_64", secureBoot: false }), false);
});

Deno.test("descriptorPaths: /etc hides /usr/share by name; sorted by name; JSON only", () => {
  assert.deepEqual(
    descriptorPaths([
      ["/etc/qemu/firmware", ["60-edk2-x86_64.json", "README"]],
      ["/usr/share/qemu/firmware", ["60-edk2-x86_64.json", "40-a.json", "70-b.json"]],
    ]),
    [
      "/usr/share/qemu/firmware/40-a.json",
      "/etc/qemu/firmware/60-edk2-x86_64.json",
      "/usr/share/qemu/firmware/70-b.json",
    ],
  );
});

Deno.test("the packages named for a missing QEMU or firmware", () => {
  assert.deepEqual(["x86_64", "aarch64", "riscv64"].map(qemuPackage), [
    "qemu-system-x86",
    "qemu-system-arm",
    "qemu-system-misc",
  ]);
  assert.equal(firmwarePackage("aarch64"), "qemu-efi-aarch64");
  assert.equal(firmwarePackage("x86_64"), "ovmf");
  const line = missingFirmwareLine({ arch: "aarch64", secureBoot: false }, ["/d"]);
  assert.match(line, /^No UEFI firmware for aarch64 .*install qemu-efi-aarch64/);
  assert.ok(!line.includes("\n"));
});

Deno.test("arch: known ones; defaults; qemu-system-<arch>; KVM only for the host's arch", () => {
  assert.equal(checkArch("aarch64"), "aarch64");
  assert.throws(() => checkArch("sparc"), UsageError);
  assert.equal(defaultFirmware("x86_64"), "bios");
  assert.equal(defaultFirmware("aarch64"), "uefi");
  assert.equal(qemuProgram({}, "aarch64"), "qemu-system-aarch64");
  assert.equal(qemuProgram({ VMCONF_QEMU: "/opt/q" }, "aarch64"), "/opt/q");
  assert.equal(
    qemuProgram({ VMCONF_QEMU_ARCH: "riscv64" }, undefined, "x86_64"),
    "qemu-system-riscv64",
  );
  assert.equal(archKvmProblem("x86_64", "x86_64"), undefined);
  assert.match(archKvmProblem("aarch64", "x86_64") ?? "", /aarch64.*x86_64/);
});

Deno.test("machineTemplates: the templates of each choice", () => {
  const base = {
    arch: "x86_64",
    firmware: "bios",
    secureBoot: false,
    tpm: false,
    windows: false,
  } as const;
  assert.deepEqual(machineTemplates(base), []);
  assert.deepEqual(machineTemplates({ ...base, firmware: "uefi", tpm: true }), ["uefi", "tpm"]);
  assert.deepEqual(machineTemplates({ ...base, firmware: "uefi", secureBoot: true }), [
    "uefi-secure-boot",
  ]);
  assert.deepEqual(machineTemplates({ ...base, arch: "aarch64", firmware: "uefi", tpm: true }), [
    "machine-virt",
    "uefi",
    "tpm-virt",
  ]);
  assert.deepEqual(
    machineTemplates({ ...base, firmware: "uefi", secureBoot: true, tpm: true, windows: true }),
    ["uefi-secure-boot", "tpm", "windows"],
  );
});

Deno.test("swtpm: relative paths in the VM directory, --terminate; its socket is the TPM's", () => {
  const c = swtpmCompanion("/vms/web", "/usr/bin/swtpm");
  assert.deepEqual(c, {
    name: "swtpm",
    argv: [
      "/usr/bin/swtpm",
      "socket",
      "--tpm2",
      "--tpmstate",
      "dir=./tpm,mode=0600",
      "--ctrl",
      "type=unixio,path=./supervise/tpm",
      "--terminate",
    ],
    ready: "/vms/web/supervise/tpm",
  });
  const tpm = Deno.readTextFileSync(new URL("../../default/templates/tpm", import.meta.url));
  assert.ok(usesTpm(parseTemplate(tpm, "tpm", {})));
  assert.ok(!usesTpm(["-m", "2G"]));
});

Deno.test("pflash drives are firmware, not disks; the drivers' CD-ROM neither", () => {
  const uefi = Deno.readTextFileSync(new URL("../../default/templates/uefi", import.meta.url));
  const args = parseTemplate(uefi, "uefi", { VM_UEFI_CODE: "/usr/share/OVMF/OVMF_CODE_4M.fd" });
  assert.deepEqual(diskRefs([...args, "-drive", "file=./drive.qcow2"]), [
    { file: "./drive.qcow2", via: "-drive" },
  ]);
  const drivers = parseTemplate(driversTemplate("/isos/a,b.iso"), "d", {});
  assert.deepEqual(drivers, ["-drive", "file=/isos/a,,b.iso,media=cdrom,readonly=on"]);
  assert.deepEqual(diskRefs(drivers), []);
});

Deno.test("machineOfTemplates: templates chosen by name bring their files; an ISO-less arch keeps", () => {
  const base = {
    arch: "x86_64",
    firmware: "bios",
    secureBoot: false,
    tpm: false,
    windows: false,
  } as const;
  assert.deepEqual(machineOfTemplates(base, ["drive", "uefi", "tpm"]), {
    ...base,
    firmware: "uefi",
    tpm: true,
  });
  assert.deepEqual(machineOfTemplates(base, ["uefi-secure-boot"]), {
    ...base,
    firmware: "uefi",
    secureBoot: true,
  });
  assert.deepEqual(machineOfTemplates({ ...base, firmware: "uefi" }, ["drive"]), base);
});

Deno.test("archOf: the domain's <os><type arch>, when vm knows it", () => {
  const d = (arch: string) =>
    parseXml(`<domain><os><type arch='${arch}' machine='virt'>hvm</type></os></domain>`);
  assert.equal(archOf(d("aarch64")), "aarch64");
  assert.equal(archOf(d("ppc64le")), undefined);
});

Deno.test("a missing qemu-system-<arch> or swtpm is one line naming the package", () => {
  const env = { PATH: "/nonexistent" };
  assert.throws(
    () => findQemu("qemu-system-riscv64", env, "/", "riscv64"),
    (e: unknown) =>
      e instanceof SystemError && e.exitCode === 111 && !e.message.includes("\n") &&
      /install qemu-system-misc \(apt-get install qemu-system-misc\)/.test(e.message),
  );
  assert.throws(
    () => findSwtpm(env, "/"),
    (e: unknown) =>
      e instanceof SystemError && /install swtpm \(apt-get install swtpm\)/.test(e.message),
  );
});
