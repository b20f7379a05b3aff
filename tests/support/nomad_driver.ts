/**
 * Test support: the QEMU command line Nomad's `qemu` task driver builds for
 * a task of a job (`vm export nomad --json`), as lib/export/nomad_args.ts's
 * module doc reads it from hashicorp/nomad's drivers/qemu/driver.go
 * (StartTask): machine, name, memory, the image as the first drive,
 * -nographic, the monitor socket (graceful_shutdown), the guest agent's
 * devices, then `args`, then a user-mode network with the port_map's forwards
 * (tcp and udp, on every address of the node), -enable-kvm (and -smp) with
 * kvm. Not a test file.
 * @module
 */

import { basename, join } from "node:path";

/** The parts of a task of the jobs API payload the driver reads. */
export interface NomadTask {
  Config: {
    image_path: string;
    accelerator?: string;
    machine_type?: string;
    drive_interface?: string;
    graceful_shutdown?: boolean;
    guest_agent?: boolean;
    args?: string[];
    port_map?: Record<string, number>[];
  };
  Resources: { MemoryMB: number; Cores: number };
}

/** The group's reserved ports, by label. */
export interface NomadNetwork {
  ReservedPorts?: { Label: string; Value: number }[];
}

/** The driver's monitor socket in the task directory. */
export const MONITOR_SOCKET = "qm.sock";

/** The argv (argv[0] `qemu`) the driver runs in `taskDir` for `task`. Pure. */
export function driverArgv(
  task: NomadTask,
  networks: readonly NomadNetwork[],
  taskDir: string,
  qemu = "qemu-system-x86_64",
): string[] {
  const c = task.Config;
  const accel = c.accelerator ?? "tcg";
  const args = [
    qemu,
    "-machine",
    `type=${c.machine_type ?? "pc"},accel=${accel}`,
    "-name",
    basename(c.image_path),
    "-m",
    `${task.Resources.MemoryMB}M`,
    "-drive",
    `file=${c.image_path},if=${c.drive_interface ?? "ide"},id=image0`,
    "-nographic",
  ];
  if (c.graceful_shutdown) {
    args.push("-monitor", `unix:${join(taskDir, MONITOR_SOCKET)},server=on,wait=off`);
  }
  if (c.guest_agent) {
    args.push(
      "-chardev",
      `socket,path=${join(taskDir, "qa.sock")},server=on,wait=off,id=qga0`,
      "-device",
      "virtio-serial",
      "-device",
      "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
    );
  }
  args.push(...(c.args ?? []));
  const reserved = new Map((networks[0]?.ReservedPorts ?? []).map((p) => [p.Label, p.Value]));
  const fwd = Object.entries(c.port_map?.[0] ?? {}).flatMap(([label, guest]) =>
    ["udp", "tcp"].map((p) => `hostfwd=${p}::${reserved.get(label)}-:${guest}`)
  );
  if (fwd.length > 0) {
    args.push("-netdev", `user,id=user.0,${fwd.join(",")}`, "-device", "virtio-net,netdev=user.0");
  }
  if (accel === "kvm") {
    args.push("-enable-kvm");
    if (!(c.args ?? []).includes("-smp")) args.push("-smp", String(task.Resources.Cores));
  }
  return args;
}
