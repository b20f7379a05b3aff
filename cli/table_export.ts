/**
 * The rows of `vm export` and `vm import` for the command table (types only:
 * this file is loaded on every start of vm).
 * @module
 */

import type { CommandSpec } from "./core/command.ts";

const VM = { name: "<vm>", kind: "vm" } as const;
const CONNECT = {
  name: "connect",
  short: "c",
  value: "URI",
  help: "libvirt connection (virsh -c); default: virsh's (LIBVIRT_DEFAULT_URI)",
} as const;

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

const TRUST = {
  name: "trust",
  help: "keep the hooks and QEMU arguments that reach the host it brings (else disabled)",
} as const;

const TAR_HELP = [
  "Writes the stopped VM as one archive (GNU tar, sparse): templates, wait, hooks, ports, seed,",
  "known_hosts, disks, and their backing images (rebased on import) unless --no-backing;",
  "`vm export tar web - | ssh host vm import tar - web` moves a VM.",
];

/** `vm export …` and `vm import …`. */
export const EXPORT_COMMANDS: CommandSpec[] = [
  {
    name: "export",
    summary: "a VM as a Nomad job, a libvirt domain, or an archive",
    args: [],
    subcommands: [
      {
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
        module: "commands/export.ts",
        entry: "nomad",
      },
      {
        name: "libvirt",
        summary: "prints a libvirt domain XML for the VM, or defines it",
        args: [VM],
        options: [
          { name: "define", help: "run virsh define on it instead of printing it" },
          CONNECT,
        ],
        help: LIBVIRT_HELP,
        module: "commands/export.ts",
        entry: "libvirt",
      },
      {
        name: "tar",
        summary: "writes a stopped VM as an archive (FILE, or - for stdout)",
        args: [VM, { name: "FILE|-", kind: "file", optional: true }],
        options: [
          { name: "no-backing", help: "leave backing images out (the target host has them)" },
        ],
        help: TAR_HELP,
        module: "commands/export.ts",
        entry: "tar",
      },
    ],
  },
  {
    name: "import",
    summary: "a VM from a libvirt domain or an archive of vm export tar",
    args: [],
    subcommands: [
      {
        name: "libvirt",
        summary: "makes a VM (down) from a defined, shut-off libvirt domain",
        args: [{ name: "<domain>", kind: "none" }, {
          name: "<vm>",
          kind: "new-vm",
          optional: true,
        }],
        options: [
          {
            name: "copy",
            help: "copy the disks into the VM directory (default: use them in place)",
          },
          CONNECT,
          TRUST,
        ],
        help: [
          "Templates drive and libvirt hold the QEMU arguments of virsh domxml-to-native without",
          "what vm adds itself or only libvirt needs (-name, -S, -no-shutdown, its monitor, master",
          "key, -no-user-config, -msg); wait from the domain's <metadata> (vm export libvirt",
          "writes it), else VMCONF_DEFAULT_WAIT. Disks must be raw or qcow2 without a data file,",
          "their backing files beside them. Arguments that reach the host (-incoming, -plugin,",
          "-sandbox off, a network monitor, script=/helper=) are listed and commented out",
          "unless --trust.",
        ],
        module: "commands/import.ts",
        entry: "libvirt",
      },
      {
        name: "tar",
        summary: "makes a VM (down) from an archive of vm export tar (FILE, or - for stdin)",
        args: [{ name: "FILE|-", kind: "file" }, { name: "<vm>", kind: "new-vm", optional: true }],
        options: [TRUST],
        help: [
          "Refuses a name that exists; a failure leaves nothing. Overlays are rebased onto their",
          "backing images where they now are (in the VM, or in the image cache with --no-backing).",
          "Images must be raw or qcow2 without a data file, backed only inside the VM or the cache.",
          "The archive's hooks (renamed hooks.untrusted) and arguments that reach the host",
          "(-incoming, -plugin, -sandbox off, host files outside the VM…: lines commented out)",
          "are listed and disabled unless --trust.",
        ],
        module: "commands/import.ts",
        entry: "tar",
      },
    ],
  },
];
