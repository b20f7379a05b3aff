/**
 * Rows of the command table (cli/table.ts). Making and changing VMs: make, boot, sv, destroy, rename, clone, disk, snapshot.
 * Imports types only: loaded on every start.
 * @module
 */

import type { CommandSpec } from "./core/command.ts";
import { MAKE_IMAGE_OPTIONS } from "./table_images.ts";
import { CLOUD_MAKE_OPTIONS } from "./table_cloud.ts";

const VM = { name: "<vm>", kind: "vm" } as const;
const VMS = { name: "<vm>", kind: "vm", repeat: true } as const;

/** `vm make`. */
export const MAKE_ROW: CommandSpec = {
  name: "make",
  summary: "interactively create a new VM",
  args: [{ name: "<vm>", kind: "new-vm" }, { name: "<iso>", kind: "file", optional: true }],
  options: [
    { name: "disk", value: "SIZE", help: "disk image size (qemu-img syntax, e.g. 20G)" },
    { name: "wait", value: "SECONDS", help: "seconds the guest gets to power off" },
    { name: "log", help: "log QEMU's output to log/main/current" },
    { name: "no-log", help: "do not log" },
    {
      name: "templates",
      value: '"a b"',
      complete: "templates",
      help: "templates on top of the defaults (mem-4g replaces mem); -name drops\n" +
        'a default, -* all of them: "-vnc +serial-console"; serial-console\n' +
        "adds the console socket of vm console",
    },
    { name: "no-default-templates", help: "start from no template (VMCONF_DEFAULT_TEMPLATES)" },
    { name: "yes", short: "y", help: "take the default for every question not answered" },
    ...MAKE_IMAGE_OPTIONS,
    ...CLOUD_MAKE_OPTIONS,
  ],
  help: [
    "asks for the disk size, the power-off wait, logging and templates (one answer per line",
    "on stdin; empty = the default shown in brackets); each option answers its question",
    "without asking it. Input that ends before the last answer makes nothing (exit 100).",
    "On a terminal a bad answer is said and asked again; on a pipe it ends vm make (exit",
    "100). With --image five more questions follow, unless their options answer them: the",
    "guest's user, SSH public key files (*.pub) that may log in, host name, a password",
    "(y/N, then asked twice) and Debian packages to install at first boot.",
    "The VM is made down; with an ISO (a file, or an ISO of the image catalog: vm image",
    "list) it boots once from it when vmd runs, and vm make waits until QEMU runs (vm vnc",
    "shows the installer). Without an ISO it stays down: start it with vm start. With",
    "--image the disk is a qcow2 overlay on the cloud image (pulled into $VMDIR/.images",
    "first), --disk SIZE at least its size",
  ],
  module: "commands/make.ts",
  entry: "make",
};

/** `vm boot`. */
export const BOOT_ROW: CommandSpec = {
  name: "boot",
  summary: "boot a VM once and pass args to QEMU",
  args: [VM, { name: "<arg>", kind: "none", optional: true, repeat: true }],
  passThrough: true,
  help: ["the arguments are kept in templates/once for that one start"],
  module: "commands/boot.ts",
  entry: "boot",
};

/** `vm sv`. */
export const SV_ROW: CommandSpec = {
  name: "sv",
  summary: "directly control runsv (runit's sv)",
  args: [{ name: "<command>", kind: "sv-command" }, VMS],
  options: [
    { name: "verbose", short: "v", help: "wait for the command to take effect (sv -v)" },
    { name: "wait", short: "w", value: "S", help: "how long -v waits (sv -w)" },
  ],
  help: ["runs runit's sv on the VMs; waits up to the largest wait + 5 s"],
  module: "commands/sv.ts",
  entry: "sv",
};

/** `vm destroy`. */
export const DESTROY_ROW: CommandSpec = {
  name: "destroy",
  summary: "delete a stopped VM with its disks, after asking",
  args: [VM],
  options: [{ name: "yes", short: "y", help: "do not ask" }],
  help: [
    "shows the directory and its disks (sizes on disk), then asks; only the VM's directory",
    "is removed: vmd stops supervising it first. Refused while it runs, and while linked",
    "clones use its disks (they are named)",
    "exit: 0 deleted, 1 running, has linked clones, or not confirmed (nothing deleted)",
  ],
  module: "commands/destroy.ts",
  entry: "destroy",
};

/** `vm rename`. */
export const RENAME_ROW: CommandSpec = {
  name: "rename",
  summary: "rename a stopped VM",
  args: [VM, { name: "<new-name>", kind: "new-vm" }],
  help: [
    "one atomic rename of its directory: autostart, log, disks and snapshots stay, and its",
    "runsv keeps supervising it. Refused while it runs, and while linked clones use its",
    "disks (their backing file names point to it)",
  ],
  module: "commands/rename_clone.ts",
  entry: "rename",
};

/** `vm clone`. */
export const CLONE_ROW: CommandSpec = {
  name: "clone",
  summary: "copy a stopped VM; the copy is down and gets new MAC addresses",
  args: [VM, { name: "<new-vm>", kind: "new-vm" }],
  options: [{
    name: "linked",
    help: "make each disk a qcow2 overlay on the source's disk instead of a copy\n" +
      "(fast, small; the source must not change while the clone exists: do\n" +
      "not start it; vm destroy and vm rename refuse it)",
  }],
  help: [
    "copies every file of the VM (not runit's state nor its log); each disk is copied with",
    "qemu-img convert (internal snapshots are not copied); every mac= address in the",
    "templates gets a fresh one. Disks must be inside the VM's directory, named relative",
    "to it (./drive.qcow2 or $VM_DIR/...), so that the copy's templates name the copy's",
    "disks and not the source's. On a terminal each full copy shows a progress bar",
  ],
  module: "commands/rename_clone.ts",
  entry: "clone",
};

/** `vm disk`. */
export const DISK_ROW: CommandSpec = {
  name: "disk",
  summary: "grow a stopped VM's disk (or set its size)",
  args: [VM, { name: "resize", kind: ["resize"] }, { name: "+SIZE|SIZE", kind: "none" }],
  options: [
    {
      name: "drive",
      value: "FILE",
      complete: "file",
      help: "the disk, as the templates name it; needed when there are several",
    },
    { name: "shrink", help: "allow a size below the current one (data past it is lost)" },
  ],
  help: [
    "+10G grows the disk by 10 GiB, 40G makes it 40 GiB (qemu-img resize); grow the",
    "partition and file system in the guest afterwards",
  ],
  module: "commands/disk.ts",
  entry: "disk",
};

/** `vm snapshot`. */
export const SNAPSHOT_ROW: CommandSpec = {
  name: "snapshot",
  summary: "internal snapshots of a stopped VM's qcow2 disks",
  args: [
    VM,
    { name: "list|create|apply|delete", kind: ["list", "create", "apply", "delete"] },
    { name: "<name>", kind: "snapshot", optional: true },
  ],
  options: [{
    name: "json",
    help: "list: an array of {name, date_s, disks} (disks as the templates name them)",
  }],
  help: [
    "each operation works on every disk of the VM (qemu-img snapshot): create adds the",
    "named snapshot to all, apply takes all back to it, delete removes it; list (also",
    "while the VM runs) shows each snapshot with its date and disks. apply is refused while",
    "linked clones use the disks (vm clone --linked)",
  ],
  module: "commands/snapshot.ts",
  entry: "snapshot",
};
