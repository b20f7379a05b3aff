/**
 * Everything cloud-init needs in a new VM directory (`vm make --image`):
 * the SSH host key and the known_hosts pinning it, the login user's name,
 * the seed sources and `seed.iso`, the `ports` file with the SSH forward
 * on the first free host port from 2222, and the templates `cloud-init`,
 * `guest-agent` and `net-user-fwd`. Every input is read and checked before
 * the first file is written. The caller assembles the directory under a
 * temporary name and renames it into place (lib/actions/make.ts).
 * Level: actions (uses lib/vm, lib/qemu, lib/ssh, lib/cloud_init).
 * @module
 */

import { join } from "../os/path.ts";
import { UsageError } from "../errors.ts";
import { readTextCapped, writeFileAtomic } from "../os/fs.ts";
import { formatBytes } from "../text/units.ts";
import { CLOUD_TEMPLATES, F } from "../layout.ts";
import { randomMac } from "../vm/mac.ts";
import { netTemplate, writePorts } from "../vm/ports.ts";
import { freeSshPort } from "../vm/port_check.ts";
import { GUEST_AGENT_TEMPLATE } from "../qemu/guest_agent.ts";
import { parsePublicKey } from "../ssh/keys.ts";
import { clientKey, hostKey, writeKnownHosts, writeSshUser } from "../ssh/key_files.ts";
import {
  checkHostname,
  checkPackages,
  checkUser,
  cloudConfig,
  composeUserData,
  hostnameFor,
  metaData,
  newInstanceId,
} from "./seed.ts";
import { CLOUD_INIT_TEMPLATE, writeSeed, writeSeedSources } from "./seed_file.ts";

/** The cloud-init options of `vm make --image`. */
export interface CloudMakeOptions {
  /** `--user NAME`; default: the invoking user's name, or `vm` for root. */
  user?: string;
  /**
   * `--ssh-key FILE` (repeatable); default: every `~/.ssh/id_*.pub`. vm's own key is always added.
   */
  sshKeys?: readonly string[];
  /** `--hostname`; default: the VM name (characters a host name cannot have become "-"). */
  hostname?: string;
  /** The `$6$` hash of `--password` (the CLI prompts twice and hashes); default: locked. */
  passwordHash?: string;
  /**
   * `--cloud-init FILE`: the user's own user-data, merged (their keys win) or run as a second part.
   */
  cloudInit?: string;
  /** `--packages "a b"`. */
  packages?: readonly string[];
}

/** What was set up. */
export interface CloudProvision {
  user: string;
  hostname: string;
  sshPort: number;
  instanceId: string;
  /** How many public keys may log in. */
  authorizedKeys: number;
  /** Template files written into `templates/`. */
  templates: string[];
}

/** The default login user: `$USER` (or `$LOGNAME`) when valid and not root, else `vm`. Pure. */
export function defaultUser(env: Record<string, string | undefined>, uid: number): string {
  const u = env.USER ?? env.LOGNAME;
  if (uid === 0 || u === undefined || u === "root") return "vm";
  try {
    return checkUser(u);
  } catch (e) {
    if (e instanceof UsageError) return "vm"; // e.g. upper case: not a name the guest takes
    throw e;
  }
}

/**
 * The public key lines of a `.pub` (or authorized_keys-like) file's text. Pure; throws UsageError.
 */
export function keyLines(text: string, file: string): string[] {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  if (lines.length === 0) {
    throw new UsageError(`"${file}" holds no SSH public key; give a *.pub file`);
  }
  for (const l of lines) parsePublicKey(l, file);
  return lines;
}

/** The most `--ssh-key` file vm reads (a `.pub` file is about 100 bytes). */
export const MAX_KEY_FILE = 64 << 10;

/** The most `--cloud-init` file vm reads (cloud-init's own user-data rarely reaches 16 KiB). */
export const MAX_CLOUD_INIT = 1 << 20;

/** The text of file `path` a user named as `what`, at most `max` bytes. Throws UsageError. */
function readText(path: string, what: string, max: number): string {
  let text: string | undefined;
  try {
    text = readTextCapped(path, max);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.IsADirectory) {
      throw new UsageError(`${what} "${path}" does not exist or is not a file; give its path`);
    }
    throw new UsageError(`Cannot read ${what} "${path}": ${(e as Error).message}`);
  }
  if (text === undefined) {
    throw new UsageError(
      `${what} "${path}" is larger than ${formatBytes(max)}; give a smaller file`,
    );
  }
  return text;
}

/** The public key lines of SSH key file `file`; throws UsageError when it has none. Reads it. */
export function keyFileLines(file: string): string[] {
  return keyLines(readText(file, "SSH key file", MAX_KEY_FILE), file);
}

/** The `~/.ssh/id_*.pub` files of `home`, sorted. Reads `~/.ssh`. */
export function defaultKeyFiles(home: string | undefined): string[] {
  if (home === undefined) return [];
  try {
    return [...Deno.readDirSync(join(home, ".ssh"))]
      .filter((e) => (e.isFile || e.isSymlink) && /^id_.*\.pub$/.test(e.name))
      .map((e) => join(home, ".ssh", e.name)).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied) return [];
    throw e;
  }
}

/** The inputs, read and checked; nothing written yet. */
interface Inputs {
  user: string;
  hostname: string;
  keys: string[];
  extra?: string;
  packages: string[];
}

async function readInputs(vmdir: string, name: string, o: CloudMakeOptions): Promise<Inputs> {
  const env = Deno.env.toObject();
  const user = o.user !== undefined ? checkUser(o.user) : defaultUser(env, Deno.uid() ?? 0);
  const hostname = checkHostname(o.hostname ?? hostnameFor(name));
  const packages = checkPackages(o.packages ?? []);
  const files = o.sshKeys ?? defaultKeyFiles(env.HOME);
  const keys = files.flatMap(keyFileLines);
  const inputs: Inputs = { user, hostname, keys, packages };
  if (o.cloudInit !== undefined) {
    inputs.extra = readText(o.cloudInit, "cloud-init file", MAX_CLOUD_INIT);
    composeUserData("", inputs.extra, o.cloudInit, "=="); // checks it is user-data cloud-init takes
  }
  // Made (the first time) only once every input passed.
  keys.push((await clientKey(vmdir)).publicLine);
  inputs.keys = [...new Set(keys)];
  return inputs;
}

/**
 * Sets up cloud-init in `dir`, the VM directory being assembled for VM
 * `name` in `vmdir` (see the module doc). Makes vm's client key on first
 * need. Throws UsageError for a bad option before anything is written.
 */
export async function provisionCloud(
  vmdir: string,
  dir: string,
  name: string,
  o: CloudMakeOptions = {},
): Promise<CloudProvision> {
  const inp = await readInputs(vmdir, name, o);
  const sshPort = freeSshPort(vmdir, name);
  const key = await hostKey(dir, name);
  const instanceId = newInstanceId();
  const spec = {
    hostname: inp.hostname,
    user: inp.user,
    authorizedKeys: inp.keys,
    hostKey: key,
    packages: inp.packages,
  };
  const userData = cloudConfig(
    o.passwordHash === undefined ? spec : { ...spec, passwordHash: o.passwordHash },
  );
  writeSeedSources(dir, {
    metaData: metaData(instanceId, inp.hostname),
    userData,
    ...(inp.extra === undefined ? {} : { extraUserData: inp.extra }),
  });
  writeSeed(dir);
  writePorts(dir, [{ proto: "tcp", hostAddr: "127.0.0.1", hostPort: sshPort, guestPort: 22 }]);
  writeKnownHosts(dir, sshPort);
  writeSshUser(dir, inp.user);
  const templates: [string, string][] = [
    [CLOUD_TEMPLATES.seed, CLOUD_INIT_TEMPLATE],
    [CLOUD_TEMPLATES.agent, GUEST_AGENT_TEMPLATE],
    [CLOUD_TEMPLATES.net, netTemplate(randomMac())],
  ];
  Deno.mkdirSync(join(dir, F.templates), { recursive: true });
  for (const [t, text] of templates) writeFileAtomic(join(dir, F.templates, t), text, 0o600);
  return {
    user: inp.user,
    hostname: inp.hostname,
    sshPort,
    instanceId,
    authorizedKeys: inp.keys.length,
    templates: templates.map(([t]) => t),
  };
}

/** One line for `vm make` to print. Pure. */
export function provisionMessage(name: string, p: CloudProvision): string {
  return `${name}: cloud-init seed for user "${p.user}" (${p.authorizedKeys} key(s)), host name ` +
    `"${p.hostname}", SSH on 127.0.0.1:${p.sshPort} with a pinned host key; "vm ssh ${name}" logs in`;
}
