/**
 * Rows of the command table (cli/table.ts) for first boot to SSH: ssh,
 * ssh-config, cp, ip, exec, port, cloud-init; and the options `vm make`
 * (with --image) and `vm start` (--ssh) get. Imports types only: loaded on
 * every start.
 * @module
 */

import type { CommandSpec, OptionSpec } from "./core/command.ts";

const VM = { name: "<vm>", kind: "vm" } as const;
/** A VM made with --image: its SSH is set up (completes only those). */
const SSH_VM = { name: "<vm>", kind: "ssh-vm" } as const;

/** The commands. */
export const CLOUD_COMMANDS: CommandSpec[] = [
  {
    name: "ssh",
    summary: "log in to the VM with SSH (its host key pinned), or run a command there",
    args: [SSH_VM, { name: "<cmd>", kind: "none", optional: true, repeat: true }],
    passThrough: true,
    help: [
      "vm ssh web            a login shell",
      "vm ssh web -- ls -la  a command (its words are joined by ssh, as with ssh itself)",
      "runs ssh -p <port from ports> with vm's key ($VMDIR/.default/ssh/id_ed25519), as the",
      "VM's user (ssh/user), StrictHostKeyChecking=yes and the VM's ssh/known_hosts: a guest",
      "whose host key changed is refused. For VMs made with --image.",
      "exit: ssh's (255: ssh failed), 1 the VM is not running, 100 usage or no SSH set up",
    ],
    module: "commands/ssh.ts",
  },
  {
    name: "ssh-config",
    summary: "print Host blocks for ~/.ssh/config (ssh web, scp, rsync, editors)",
    args: [{ ...SSH_VM, optional: true, repeat: true }],
    help: [
      "without VMs: every VM with SSH set up. Use it through Include:",
      "  vm ssh-config > ~/.ssh/vm.config; echo 'Include vm.config' >> ~/.ssh/config",
      "(Include must come before the first Host line of ~/.ssh/config)",
      "exit: 0 ok, 100 a named VM does not exist or has no SSH set up",
    ],
    module: "commands/ssh_config.ts",
  },
  {
    name: "cp",
    summary: "copy files between this host and a VM with scp",
    args: [{ name: "<src>", kind: "file" }, { name: "<dst>", kind: "file", repeat: true }],
    options: [{ name: "recursive", short: "r", help: "copy directories" }],
    help: [
      "operands <vm>:<path> are in the guest: vm cp web:/etc/hostname .   vm cp ./f web:/tmp/",
      "one VM per copy; same key and pinned host key as vm ssh",
      "exit: scp's, 1 the VM is not running, 100 usage",
    ],
    module: "commands/cp.ts",
  },
  {
    name: "ip",
    summary: "list the guest's addresses (from its guest agent)",
    args: [VM],
    options: [{
      name: "json",
      help: "a JSON array of {name, mac, addresses: [{family, address, prefix}]}",
    }],
    help: [
      "asks the guest agent (template guest-agent, qemu-guest-agent in the guest);",
      "loopback is left out",
      'exit: 0 ok, 1 no agent answers within 2 s ("no agent"), 100 usage',
    ],
    module: "commands/ip.ts",
  },
  {
    name: "exec",
    summary: "run a command in the guest through its agent (no network needed)",
    args: [VM, { name: "<cmd>", kind: "none", repeat: true }],
    passThrough: true,
    help: [
      "vm exec web -- id -un     runs as root; output is printed as it comes",
      "(the command's output goes through files in the guest's /tmp, removed afterwards)",
      "exit: the command's (128+N for signal N), 1 no agent answers, 100 usage",
    ],
    module: "commands/exec.ts",
  },
  {
    name: "port",
    summary: "list, add or remove port forwards (the ports file; live on a running VM)",
    args: [
      VM,
      { name: "list|add|rm", kind: ["list", "add", "rm"], optional: true },
      { name: "<rule>", kind: "none", optional: true, repeat: true },
    ],
    help: [
      "vm port web list",
      "vm port web add [tcp|udp] [ADDR:]HOSTPORT GUESTPORT   (ADDR 127.0.0.1 unless given)",
      "vm port web rm [tcp|udp] HOSTPORT",
      "on a running VM add and rm apply at once through QEMU's monitor (hostfwd_add/remove);",
      "moving the SSH forward (guest port 22) rewrites the VM's known_hosts; a VM without",
      "network templates gets net-user-fwd (QEMU's default NIC, with the forwards) from its",
      "next start; one whose own network does not take them ($VM_HOSTFWD) is refused",
      "exit: 0 ok, 1 the host port is taken (its process named) or QEMU refused, 100 usage",
    ],
    module: "commands/port.ts",
  },
  {
    name: "cloud-init",
    summary: "rebuild the VM's cloud-init seed (seed.iso) after editing its sources",
    args: [VM, { name: "regenerate", kind: ["regenerate"] }],
    options: [{
      name: "new-instance-id",
      help: "a new instance-id: cloud-init runs its per-instance modules (users, keys,\n" +
        "packages) again at the next boot",
    }],
    help: [
      "the sources are in <vm>/cloud-init/: meta-data, user-data (vm's #cloud-config),",
      "extra-user-data (yours, from --cloud-init) and network-config when present;",
      "vm's SSH key of this VMDIR is added to user-data when it lacks it (a VM moved",
      "here from another VMDIR): the guest takes it with --new-instance-id",
      "exit: 0 ok, 100 the VM has no cloud-init sources or they are not user-data",
    ],
    module: "commands/cloud_init.ts",
  },
];

/** Options `vm make` gets for `--image` VMs (cli/commands/make_cloud.ts reads them). */
export const CLOUD_MAKE_OPTIONS: OptionSpec[] = [
  {
    name: "user",
    value: "NAME",
    help: "the guest's login user, with password-less sudo where the image has sudo\n" +
      "(--packages sudo installs it); default: your user name, vm for root",
  },
  {
    name: "ssh-key",
    value: "FILE",
    complete: "file",
    repeat: true,
    help: "a public key file (*.pub) that may log in (repeatable; default: every\n" +
      "~/.ssh/id_*.pub); vm's own key ($VMDIR/.default/ssh) is always added; a file\n" +
      "over 64 KiB is refused",
  },
  { name: "hostname", value: "NAME", help: "the guest's host name (default: the VM name)" },
  {
    name: "password",
    help: "ask for a password for the user (twice; only its SHA-512 hash is kept)",
  },
  {
    name: "cloud-init",
    value: "FILE",
    complete: "file",
    help: "your own user-data: a #cloud-config is merged over vm's (your keys win);\n" +
      "a #! script or a MIME multi-part is passed on as a second part; at most 1 MiB",
  },
  { name: "packages", value: '"A B"', help: "Debian packages to install at first boot" },
];

/** Options `vm start` gets for --ssh (cli/commands/start_ssh.ts). */
export const START_SSH_OPTIONS: OptionSpec[] = [
  {
    name: "ssh",
    help: "wait until the VM answers SSH with its pinned host key; print the boot time;\n" +
      "on a terminal, one line tells what it waits for (QEMU, the guest's serial\n" +
      "console or agent, port 22, sshd, the login) and for how long",
  },
];
