/**
 * What `vm list --json` and `vm info` show about a VM's cloud setup: whether
 * it has the guest agent channel (the `guest-agent` template) and its SSH
 * host port (the `ports` file's forward to guest port 22). Cheap: two file
 * lookups, no connection. Reads `<vm>/templates/guest-agent`, `<vm>/ports`.
 * Level: vm.
 * @module
 */

import { join } from "../os/path.ts";
import { ParseError } from "../errors.ts";
import { pathExists } from "../os/lookup.ts";
import { CLOUD_TEMPLATES, F } from "../layout.ts";
import { sshRule } from "./ports.ts";
import type { Vm } from "./inspect.ts";

/** The fields, as named in JSON. */
export interface CloudInfo {
  /** The VM has the guest agent channel (answering is another matter: `vm ip`). */
  agent: boolean;
  /** The host port forwarded to the guest's SSH port, or null. */
  ssh_port: number | null;
}

/**
 * The VM's cloud fields; a `ports` file that does not parse counts as no SSH
 * port. Lookups that fail throw nothing (`vm list --json` asks this of every VM).
 */
export function cloudInfo(vm: Vm): CloudInfo {
  let port: number | null = null;
  try {
    port = sshRule(vm.ports ?? [])?.hostPort ?? null;
  } catch (e) {
    if (!(e instanceof ParseError)) throw e; // reported by the VM's start and by "vm port"
  }
  return { agent: pathExists(join(vm.dir, F.templates, CLOUD_TEMPLATES.agent)), ssh_port: port };
}
