/**
 * How to reach a VM over SSH, and the command lines of `vm ssh`, `vm cp`
 * (scp) and the Host blocks of `vm ssh-config`: port from the VM's
 * `ports` file, user from `ssh/user`, vm's client key, and the VM's own
 * `ssh/known_hosts` with `StrictHostKeyChecking=yes` — no trust on first
 * use, a changed host key is refused. Building argv is pure;
 * {@link sshTarget} reads the VM's files.
 * When a VM cannot be reached, the error says the step that makes it work
 * (a forward on a free port, a VM without vm's login, a missing key).
 * Level: vm.
 * @module
 */

import { join } from "../os/path.ts";
import { UsageError } from "../errors.ts";
import { exists } from "../os/fs.ts";
import { readPorts, sshRule } from "../vm/ports.ts";
import { freeSshPort } from "../vm/port_check.ts";
import { isValidName } from "../vm/name.ts";
import { listVms } from "../vm/dir.ts";
import { readSshUser } from "./key_files.ts";
import { CLIENT_KEY, SSH_FILES } from "../layout.ts";

/** Everything needed to connect to one VM. */
export interface SshTarget {
  name: string;
  port: number;
  user: string;
  /** vm's private key. */
  key: string;
  knownHosts: string;
}

/**
 * The SSH target of VM `name` in `dir`. Throws UsageError when the VM has
 * no SSH forward, user, known_hosts, or vm's key is missing.
 */
export function sshTarget(vmdir: string, name: string, dir: string): SshTarget {
  const rules = readPorts(dir);
  const rule = sshRule(rules);
  const user = readSshUser(dir);
  const knownHosts = join(dir, SSH_FILES.knownHosts);
  const key = join(vmdir, CLIENT_KEY.private);
  const port = () => rule?.hostPort ?? freeSshPort(vmdir, name, rules);
  if (user === undefined || !exists(knownHosts)) {
    const add = rule === undefined ? `"vm port ${name} add ${port()} 22", then ` : "";
    throw new UsageError(
      `VM "${name}" was not made with --image: vm has no SSH login for it ("${SSH_FILES.user}", ` +
        `"${SSH_FILES.knownHosts}"); use your own: ${add}"ssh -p ${port()} <user>@127.0.0.1"`,
    );
  }
  if (rule === undefined) {
    throw new UsageError(
      `VM "${name}" forwards no host port to its SSH port 22; add one with ` +
        `"vm port ${name} add ${port()} 22"`,
    );
  }
  if (!exists(key)) {
    throw new UsageError(
      `vm's SSH key "${key}" is missing; "vm cloud-init ${name} regenerate --new-instance-id" ` +
        `makes one and authorises it at the VM's next boot`,
    );
  }
  return { name, port: rule.hostPort, user, key, knownHosts };
}

/** The `-o` options every connection uses. Pure. */
export function sshOptions(t: SshTarget): string[] {
  return [
    "-i",
    t.key,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${t.knownHosts}`,
  ];
}

/** `ssh … user@127.0.0.1 [cmd…]` (argv[0] "ssh"). Pure. */
export function sshArgv(
  t: SshTarget,
  command: readonly string[],
  extra: readonly string[] = [],
): string[] {
  return [
    "ssh",
    "-p",
    String(t.port),
    ...sshOptions(t),
    ...extra,
    "--",
    `${t.user}@127.0.0.1`,
    ...command,
  ];
}

/** A `vm cp` operand: a local path, or `<vm>:<path>` in the guest. */
export type CpOperand = { vm: string; path: string } | { local: string };

/**
 * Splits a `vm cp` operand: `<vm>:<path>` when the part before the first `:` is a VM in `vms`.
 * Pure.
 */
export function parseCpOperand(word: string, vms: readonly string[]): CpOperand {
  const i = word.indexOf(":");
  if (i > 0 && !word.slice(0, i).includes("/") && vms.includes(word.slice(0, i))) {
    return { vm: word.slice(0, i), path: word.slice(i + 1) };
  }
  return { local: word };
}

/**
 * The VM name a `vm cp` operand seems to give (`nosuchvm:/tmp/`: a valid
 * VM name before the first `:`), or undefined. For an operand that is no
 * VM of VMDIR and no local file. Pure.
 */
export function cpVmNamed(word: string): string | undefined {
  const i = word.indexOf(":");
  const name = i > 0 ? word.slice(0, i) : "";
  return isValidName(name) ? name : undefined;
}

/**
 * The VM of `vm cp`'s operands (exactly one VM among them, no matter how
 * often it is named). Pure. Throws UsageError otherwise.
 */
export function cpVm(ops: readonly CpOperand[]): string {
  const vms = [...new Set(ops.flatMap((o) => ("vm" in o ? [o.vm] : [])))];
  if (vms.length !== 1 || ops.length < 2) {
    throw new UsageError(
      `"vm cp" copies between this host and one VM: "vm cp web:/etc/hostname ." or "vm cp ./f web:/tmp/"`,
    );
  }
  return vms[0] ?? "";
}

/** `scp -P port … SRC… DST` with `<vm>:` operands as `user@127.0.0.1:`. Pure. */
export function scpArgv(t: SshTarget, ops: readonly CpOperand[], recursive: boolean): string[] {
  const words = ops.map((o) => ("vm" in o ? `${t.user}@127.0.0.1:${o.path}` : o.local));
  // A local path with a ":" before any "/" would look remote to scp.
  const safe = words.map((w, i) => {
    const o = ops[i];
    return o !== undefined && "local" in o && /^[^/]*:/.test(w) ? `./${w}` : w;
  });
  return [
    "scp",
    "-P",
    String(t.port),
    ...sshOptions(t),
    ...(recursive ? ["-r"] : []),
    "--",
    ...safe,
  ];
}

function configValue(v: string): string {
  return /[\s"]/.test(v) ? `"${v.replaceAll('"', '\\"')}"` : v;
}

/** A `Host <vm>` block for `~/.ssh/config` (through `Include`). Pure. */
export function sshConfigBlock(t: SshTarget): string {
  return [
    `Host ${t.name}`,
    "  HostName 127.0.0.1",
    `  Port ${t.port}`,
    `  User ${t.user}`,
    `  IdentityFile ${configValue(t.key)}`,
    "  IdentitiesOnly yes",
    "  StrictHostKeyChecking yes",
    `  UserKnownHostsFile ${configValue(t.knownHosts)}`,
    "",
  ].join("\n");
}

/** The VMs of `vmdir` with SSH set up (made with --image), sorted. Reads their ports and ssh/. */
export function sshVms(vmdir: string): string[] {
  return listVms(vmdir).filter((name) => {
    try {
      sshTarget(vmdir, name, join(vmdir, name));
      return true;
    } catch (e) {
      if (e instanceof UsageError) return false; // no SSH set up
      throw e;
    }
  });
}
