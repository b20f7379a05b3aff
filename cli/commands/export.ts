/**
 * `vm export nomad|libvirt|tar …`: prints a Nomad job or a libvirt domain
 * for a VM (or defines the domain), or writes the VM as an archive. What an
 * export maps approximately or passes through is said on stderr.
 * @module
 */

import {
  type CommandSpec,
  defineCommand,
  defineGroup,
  type Invocation,
  type OptionSpec,
  type RowOptions,
  VM,
} from "../core/command.ts";
import { print, printErr, writeErr } from "../core/output.ts";
import { optFlag, optString } from "../core/parse.ts";
import { UsageError } from "../../lib/errors.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { readVmModel } from "../../lib/export/vm_model.ts";
import { inspectDir, inspectVm } from "../../lib/vm/inspect.ts";
import { visible } from "../../lib/text/visible.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { buildNomadJob, nomadPayload } from "../../lib/export/nomad.ts";
import { nomadHcl } from "../../lib/export/nomad_hcl.ts";
import { cacheLookup } from "../../lib/export/image_source.ts";
import { domainUuid, libvirtDomain } from "../../lib/export/libvirt_xml.ts";
import { shown, where } from "../../lib/export/qemu_options.ts";
import { defineDomain } from "../../lib/export/virsh.ts";
import { exportTar } from "../../lib/export/tar.ts";
import { interruptible } from "./image.ts";

/** `--connect` of `vm export libvirt` and `vm import libvirt`. */
export const CONNECT = {
  name: "connect",
  short: "c",
  value: "URI",
  help: "libvirt connection (virsh -c); default: virsh's (LIBVIRT_DEFAULT_URI)",
} as const satisfies OptionSpec;

/** `vm export nomad`: the mapping of each argument, for --help (README: docs/export.md). */
const NOMAD_HELP = [
  "Prints a Nomad job (HCL; --json: the jobs API payload) running the VM with Nomad's qemu",
  "driver (fields read from hashicorp/nomad drivers/qemu/driver.go, main after v1.11.0-rc.1).",
  "Schema-tested only: not run against a Nomad cluster. Mappings (shown on stderr for the VM):",
  "  -machine TYPE,accel=A     config.machine_type, config.accelerator (other properties kept)",
  "  -accel A, -enable-kvm     config.accelerator (the driver adds -enable-kvm for kvm)",
  "  -m SIZE                   resources.memory in MB (the driver adds -m; 128 to 4000000)",
  "  -smp N…                   kept in args; resources.cores = the number of CPUs",
  "  -name                     removed: the driver names the VM after image_path",
  "  -nographic, -display none removed: the driver adds -nographic",
  "  the disk (-drive file=)   config.image_path = local/<file> + an artifact: the catalog URL",
  "                            and checksum of its backing image when it is an overlay (its own",
  "                            changes are not exported), else --image-url; refused without",
  "                            one; if= becomes config.drive_interface",
  "  seed.iso                  an artifact from --seed-url (checksum: the file's sha256), and",
  "                            the argument naming it points at local/seed.iso",
  "  guest agent device        config.guest_agent = true (its chardev and devices removed)",
  '  ports file                network { port "tcp_22" { static = 2222 } } and port_map; the',
  "                            driver's user-mode NIC replaces the VM's (-nic/-netdev user)",
  "                            and forwards tcp and udp on every address of the node",
  "  wait                      kill_timeout = wait + 5 s (a client caps it: max_kill_timeout)",
  "  always                    graceful_shutdown = true (ACPI power-off, like vm stop)",
  "Refused, naming the template and line: paths outside the task directory, host devices",
  "(tap, bridge, /dev/…, vfio), sockets in supervise/, a display window, -daemonize.",
];

const LIBVIRT_HELP = [
  "Prints a libvirt domain: type kvm or qemu from the accelerator, memory, vCPUs, disks with",
  "their formats and backing chains, CD-ROMs, user-mode/bridge/tap network with the VM's MAC",
  "(ports as passt <portForward>), serial ports (the console socket and stdio as a pty; files",
  "kept), graphics none/vnc/spice/sdl, <on_poweroff>destroy, wait in <metadata>. Arguments",
  "with no XML form go into <qemu:commandline> and are listed on stderr. Paths become absolute.",
  "--define runs virsh define (again: updates it; the UUID is derived from the VM's directory).",
];

const TAR_HELP = [
  "Writes the stopped VM as one archive (GNU tar, sparse): templates, wait, hooks, ports, seed,",
  "known_hosts, disks, and their backing images (rebased on import) unless --no-backing;",
  "`vm export tar web - | ssh host vm import tar - web` moves a VM.",
];

/** The row of `vm export`: its subcommands are those of {@link exportCommand}. */
const EXPORT_ROW = {
  name: "export",
  summary: "a VM as a Nomad job, a libvirt domain, or an archive",
  args: [],
} as const satisfies CommandSpec;

/** The row of `vm export nomad`. */
const EXPORT_NOMAD_ROW = {
  name: "nomad",
  summary: "prints a Nomad job (qemu driver) for the VM",
  args: [VM],
  options: [
    { name: "json", help: "the JSON payload of Nomad's jobs API instead of HCL" },
    { name: "datacenter", value: "D", help: "the job's datacenter (default dc1)" },
    {
      name: "image-url",
      value: "URL",
      help: "where you publish the disk (else the catalog's)",
    },
    { name: "seed-url", value: "URL", help: "where you publish seed.iso (VMs with a seed)" },
  ],
  help: NOMAD_HELP,
} as const satisfies CommandSpec;

/** The row of `vm export libvirt`. */
const EXPORT_LIBVIRT_ROW = {
  name: "libvirt",
  summary: "prints a libvirt domain XML for the VM, or defines it",
  args: [VM],
  options: [
    { name: "define", help: "run virsh define on it instead of printing it" },
    CONNECT,
  ],
  help: LIBVIRT_HELP,
} as const satisfies CommandSpec;

/** The row of `vm export tar`. */
const EXPORT_TAR_ROW = {
  name: "tar",
  summary: "writes a stopped VM as an archive (FILE, or - for stdout)",
  args: [VM, { name: "FILE|-", kind: "file", optional: true }],
  options: [
    { name: "no-backing", help: "leave backing images out (the target host has them)" },
  ],
  help: TAR_HELP,
} as const satisfies CommandSpec;

/** A progress line on stderr, only when stderr is a terminal (bytes as MiB). */
export function progress(): ((done: number) => void) | undefined {
  if (!Deno.stderr.isTerminal()) return undefined;
  let last = -1;
  return (done: number) => {
    const mib = Math.floor(done / 2 ** 20);
    if (mib === last) return;
    last = mib;
    writeErr(`\r${mib} MiB`);
  };
}

/** `vm export nomad <vm>`. */
async function exportNomad(inv: Invocation<RowOptions<typeof EXPORT_NOMAD_ROW>>): Promise<number> {
  const cfg = loadConfig();
  const model = await readVmModel(cfg, inspectDir(requireVm(cfg.vmdir, inv.args[0] ?? "")));
  const imageUrl = optString(inv, "image-url");
  const seedUrl = optString(inv, "seed-url");
  const { job, mappings } = buildNomadJob(model, {
    datacenter: optString(inv, "datacenter") ?? "dc1",
    lookup: cacheLookup(cfg.vmdir),
    ...(imageUrl === undefined ? {} : { imageUrl }),
    ...(seedUrl === undefined ? {} : { seedUrl }),
  });
  print(optFlag(inv, "json") ? JSON.stringify(nomadPayload(job), null, 2) : nomadHcl(job));
  for (const m of mappings) {
    printErr(`vm export nomad: ${m.at ? m.at + ": " : ""}${m.arg} -> ${m.to}`);
  }
  return 0;
}

/** `vm export libvirt <vm>`. */
async function exportLibvirt(
  inv: Invocation<RowOptions<typeof EXPORT_LIBVIRT_ROW>>,
): Promise<number> {
  const cfg = loadConfig();
  const model = await readVmModel(cfg, inspectDir(requireVm(cfg.vmdir, inv.args[0] ?? "")));
  const d = libvirtDomain(model, await domainUuid(`vm:${model.dir}`));
  for (const g of d.commandline) {
    const at = g.word.file === "" ? "" : where(g) + ": ";
    printErr(`vm export libvirt: no XML form, passed in <qemu:commandline>: ${at}${shown(g)}`);
  }
  for (const n of d.notes) printErr(`vm export libvirt: ${n}`);
  if (optFlag(inv, "define")) {
    await defineDomain(d.xml, optString(inv, "connect"));
    print(
      `Domain "${model.name}" defined (virsh define); start it with "virsh start ${model.name}"`,
    );
  } else {
    print(d.xml);
  }
  return 0;
}

/** `vm export tar <vm> [FILE|-]`. */
async function exportTarCmd(inv: Invocation<RowOptions<typeof EXPORT_TAR_ROW>>): Promise<number> {
  const name = inv.args[0] ?? "";
  const file = inv.args[1] ?? "-";
  if (file === "-" && Deno.stdout.isTerminal()) {
    throw new UsageError(
      `Not writing an archive to a terminal; give a FILE or pipe it ("| ssh host vm import tar -")`,
    );
  }
  const onProgress = file === "-" ? undefined : progress();
  const out = file === "-" ? { stream: Deno.stdout.writable } : { file };
  await interruptible(
    (signal) =>
      exportTar(loadConfig(), name, out, {
        noBacking: optFlag(inv, "no-backing"),
        signal,
        ...(onProgress === undefined ? {} : { onProgress }),
      }),
  );
  if (onProgress !== undefined) printErr("");
  if (file !== "-") print(`VM "${name}" written to "${file}"`);
  const shares = inspectVm(loadConfig().vmdir, name).shares;
  if (shares.length > 0) {
    printErr(visible(
      `vm export tar: the archive records the shared folders of "${name}" (` +
        shares.map((s) => `${s.tag}: ${s.path}`).join(", ") +
        "), not their files: the folders do not travel; the import disables the shares " +
        "until --trust",
    ));
  }
  return 0;
}

/** `vm export nomad|libvirt|tar`. */
export const exportCommand = defineGroup(EXPORT_ROW, [
  defineCommand(EXPORT_NOMAD_ROW, { run: exportNomad }),
  defineCommand(EXPORT_LIBVIRT_ROW, { run: exportLibvirt }),
  defineCommand(EXPORT_TAR_ROW, { run: exportTarCmd }),
]);
