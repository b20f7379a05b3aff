/**
 * The SSH key files of vm and its VMs:
 * - vm's own client key pair in `$VMDIR/.default/ssh/` (`id_ed25519`,
 *   `id_ed25519.pub`; directory 0700, files 0600), made on first need, so
 *   `vm ssh` works for users without a key of their own;
 * - each VM's SSH host key in `<vm>/ssh/` (`ssh_host_ed25519_key` and
 *   `.pub`, 0600, never printed), which the guest gets through user-data;
 * - the VM's `ssh/known_hosts`, pinning that key for `[127.0.0.1]:<port>`;
 * - the VM's login user name in `ssh/user`.
 * Directories are created 0700 and must not be symlinks (nothing is written
 * through a link out of a VM directory).
 * Level: vm.
 * @module
 */

import { basename, join } from "../os/path.ts";
import { SystemError, UsageError } from "../errors.ts";
import { NEW_SUFFIX, readTextIfExists, removeTree, writeFileAtomic } from "../os/fs.ts";
import { CLIENT_KEY, SSH_FILES } from "../layout.ts";
import { keyWithoutComment, newKeyFiles, parsePublicKey } from "./keys.ts";

/**
 * Makes `dir` a directory of mode 0700 (creating it), refusing a symlink
 * or anything else in its place. Throws SystemError.
 */
export function ensurePrivateDir(dir: string): void {
  try {
    Deno.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    if (!Deno.lstatSync(dir).isDirectory) {
      throw new SystemError(`"${dir}" is not a directory (a symlink?); remove it and try again`);
    }
  }
  Deno.chmodSync(dir, 0o700);
}

/** The known_hosts line pinning `publicLine` for SSH on 127.0.0.1:`port`. Pure. */
export function knownHostsLine(port: number, publicLine: string): string {
  const key = keyWithoutComment(parsePublicKey(publicLine, "host key"));
  return `${port === 22 ? "127.0.0.1" : `[127.0.0.1]:${port}`} ${key}\n`;
}

/** The paths of vm's client key pair, and its public line. */
export interface ClientKey {
  privatePath: string;
  publicLine: string;
}

/**
 * vm's client key, made on first need (both files appear at once: they are
 * written to a temp directory renamed into place; a concurrent maker's key
 * wins and is used). Reads or writes `$VMDIR/.default/ssh/`.
 */
export async function clientKey(vmdir: string): Promise<ClientKey> {
  const dir = join(vmdir, CLIENT_KEY.dir);
  const read = (): ClientKey | undefined => {
    const pub = readTextIfExists(join(vmdir, CLIENT_KEY.public));
    if (pub === undefined || readTextIfExists(join(vmdir, CLIENT_KEY.private)) === undefined) {
      return undefined;
    }
    return { privatePath: join(vmdir, CLIENT_KEY.private), publicLine: pub.trim() };
  };
  const have = read();
  if (have !== undefined) return have;
  const tmp = `${dir}${NEW_SUFFIX}-${Deno.pid}`;
  ensurePrivateDir(tmp);
  try {
    const k = await newKeyFiles(`vm@${Deno.hostname()}`);
    writeFileAtomic(join(tmp, basename(CLIENT_KEY.private)), k.private, 0o600);
    writeFileAtomic(join(tmp, basename(CLIENT_KEY.public)), k.public + "\n", 0o600);
    try {
      Deno.renameSync(tmp, dir);
    } catch (e) {
      // Another vm made it first (the target exists and is not empty): use that one.
      if (!(e instanceof Deno.errors.AlreadyExists || /not empty/i.test(String(e)))) throw e;
    }
  } finally {
    removeTree(tmp);
  }
  const made = read();
  if (made === undefined) {
    throw new SystemError(`vm's SSH key in "${dir}" is incomplete; remove "${dir}"`);
  }
  return made;
}

/**
 * Makes the VM's host key pair in `<vmDir>/ssh/` (0600) and returns its
 * texts; an existing pair is kept and returned.
 */
export async function hostKey(
  vmDir: string,
  name: string,
): Promise<{ private: string; public: string }> {
  ensurePrivateDir(join(vmDir, SSH_FILES.dir));
  const priv = readTextIfExists(join(vmDir, SSH_FILES.hostKey));
  const pub = readTextIfExists(join(vmDir, SSH_FILES.hostKeyPub));
  if (priv !== undefined && pub !== undefined) return { private: priv, public: pub.trim() };
  const k = await newKeyFiles(`root@${name}`);
  writeFileAtomic(join(vmDir, SSH_FILES.hostKey), k.private, 0o600);
  writeFileAtomic(join(vmDir, SSH_FILES.hostKeyPub), k.public + "\n", 0o600);
  return k;
}

/** Writes `<vmDir>/ssh/known_hosts` pinning the VM's host key on `port` (0600). */
export function writeKnownHosts(vmDir: string, port: number): void {
  const pub = readTextIfExists(join(vmDir, SSH_FILES.hostKeyPub));
  if (pub === undefined) {
    throw new UsageError(
      `VM "${vmDir}" has no SSH host key ("${SSH_FILES.hostKeyPub}"); it was not made with --image`,
    );
  }
  ensurePrivateDir(join(vmDir, SSH_FILES.dir));
  writeFileAtomic(join(vmDir, SSH_FILES.knownHosts), knownHostsLine(port, pub), 0o600);
}

/** Writes the VM's login user name (`ssh/user`, 0600). */
export function writeSshUser(vmDir: string, user: string): void {
  ensurePrivateDir(join(vmDir, SSH_FILES.dir));
  writeFileAtomic(join(vmDir, SSH_FILES.user), user + "\n", 0o600);
}

/** The VM's login user name, or undefined when it has none. Reads `<vmDir>/ssh/user`. */
export function readSshUser(vmDir: string): string | undefined {
  const t = readTextIfExists(join(vmDir, SSH_FILES.user))?.trim();
  return t === undefined || t === "" ? undefined : t;
}
