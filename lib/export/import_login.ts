/**
 * What `vm import tar` does so that `vm ssh` reaches a VM made with --image
 * in the VMDIR it moved to. vm's SSH key is one per VMDIR (`.default/ssh/`,
 * shared by all its VMs), so the archive never carries it: the import adds
 * this VMDIR's key (made on first need) to the VM's user-data and writes the
 * seed again with a new instance-id, so cloud-init adds the key at the next
 * boot (the keys authorised before stay). When another VM of this VMDIR
 * forwards the VM's SSH port, or the port is taken on this host, the SSH
 * forward moves to the first free port from 2222 and known_hosts follows.
 * Reads and writes the VM directory being imported; reads other VMs' `ports`.
 * Area lib/export, at the level of actions.
 * @module
 */

import { join } from "../os/path.ts";
import { exists } from "../os/fs.ts";
import { authorizeVmKey, noKeyListText, regenerateSeed } from "../cloud_init/seed_file.ts";
import { SEED_FILES, SSH_FILES } from "../layout.ts";
import { writeKnownHosts } from "../ssh/key_files.ts";
import { portsInUse, readPorts, sshRule, writePorts } from "../vm/ports.ts";
import { canBind, freeSshPort } from "../vm/port_check.ts";

/** What the import changed for the login. */
export interface MovedLogin {
  /** Set when vm's key was authorised: the seed's new instance-id. */
  instanceId?: string;
  /** Set when user-data has no one list to add vm's key to: the key, for the user to add. */
  keyToAdd?: string;
  /** Set when the SSH forward moved: its old and new host port. */
  sshPort?: { from: number; to: number };
}

/**
 * Readies the login of VM `name`, being imported into `vmdir` in `dir` (see
 * the module doc); undefined for a VM without cloud-init sources.
 */
export async function readyMovedLogin(
  vmdir: string,
  dir: string,
  name: string,
): Promise<MovedLogin | undefined> {
  if (!exists(join(dir, SEED_FILES.userData)) || !exists(join(dir, SEED_FILES.metaData))) {
    return undefined;
  }
  const out: MovedLogin = {};
  const auth = await authorizeVmKey(vmdir, dir);
  if (auth.result === "added") out.instanceId = (await regenerateSeed(dir, true)).instanceId;
  if (auth.result === "no-list") out.keyToAdd = auth.key;
  const rules = readPorts(dir);
  const ssh = sshRule(rules);
  if (ssh === undefined) return out;
  if (!portsInUse(vmdir, name).has(ssh.hostPort) && canBind("tcp", ssh.hostAddr, ssh.hostPort)) {
    return out;
  }
  const to = freeSshPort(vmdir, name, rules.filter((r) => r !== ssh), ssh.hostAddr);
  writePorts(dir, rules.map((r) => (r === ssh ? { ...r, hostPort: to } : r)));
  if (exists(join(dir, SSH_FILES.hostKeyPub))) writeKnownHosts(dir, to);
  out.sshPort = { from: ssh.hostPort, to };
  return out;
}

/** The lines `vm import tar` prints about it. Pure. */
export function movedLoginLines(name: string, vmdir: string, m: MovedLogin): string[] {
  const out: string[] = [];
  if (m.instanceId !== undefined) {
    out.push(
      `${name}: vm's SSH key (of "${vmdir}") authorised in its seed, with a new instance-id ` +
        `(${m.instanceId}): cloud-init adds it at the next boot`,
    );
  }
  if (m.keyToAdd !== undefined) out.push(noKeyListText(name, m.keyToAdd));
  if (m.sshPort !== undefined) {
    out.push(
      `${name}: SSH forward moved from port ${m.sshPort.from} (taken here) to ` +
        `127.0.0.1:${m.sshPort.to}`,
    );
  }
  return out;
}
