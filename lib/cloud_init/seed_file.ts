/**
 * A VM's NoCloud seed on disk. Its sources are plain files the user may
 * edit in `<vm>/cloud-init/` (0700): `meta-data`, `user-data` (vm's
 * cloud-config), optionally `extra-user-data` (the user's own, from
 * `--cloud-init`) and `network-config`. {@link writeSeed} builds
 * `<vm>/seed.iso` (volume `cidata`, 0600, written atomically) from them
 * and from the VM's `shares` (a last part mounting them at boot);
 * the `cloud-init` template attaches it read-only. Regenerating keeps the
 * instance-id unless a new one is asked for (cloud-init runs its
 * once-per-instance modules — users, keys — again only for a new one).
 * {@link authorizeVmKey} adds the key of the VMDIR the VM is in (vm's, for
 * `vm ssh`) to user-data when it lacks it, as after a move to another VMDIR.
 * Level: vm (reads and writes files of one VM directory).
 * @module
 */

import { basename, join } from "../os/path.ts";
import { UsageError } from "../errors.ts";
import { readTextIfExists, writeFileAtomic } from "../os/fs.ts";
import { clientKey, ensurePrivateDir } from "../ssh/key_files.ts";
import { withVmLock } from "../vm/lock.ts";
import { SEED_FILES } from "../layout.ts";
import { guestMountPoint, readShares } from "../vm/shares.ts";
import { buildIso, type IsoFile } from "./iso9660.ts";
import {
  composeUserData,
  instanceIdOf,
  newBoundary,
  newInstanceId,
  type ShareMount,
  sharesCloudConfig,
  withAuthorizedKey,
  withInstanceId,
} from "./seed.ts";

/**
 * The `cloud-init` template: the seed as a read-only virtio disk
 * (`media=cdrom` keeps vm's disk commands — snapshot, clone, resize — off it).
 */
export const CLOUD_INIT_TEMPLATE =
  `-drive file=./${SEED_FILES.iso},if=virtio,format=raw,media=cdrom,readonly=on\n`;

/** The volume id NoCloud looks for. */
export const SEED_VOLUME_ID = "cidata";

/** The seed's sources as texts (undefined: that file is absent). */
export interface SeedSources {
  metaData: string;
  userData: string;
  extraUserData?: string;
  networkConfig?: string;
}

/**
 * Writes the sources into `<vmDir>/cloud-init/` (0700; files 0600);
 * absent optional ones are not written. Does not build the ISO.
 */
export function writeSeedSources(vmDir: string, s: SeedSources): void {
  ensurePrivateDir(join(vmDir, SEED_FILES.dir));
  writeFileAtomic(join(vmDir, SEED_FILES.metaData), s.metaData, 0o600);
  writeFileAtomic(join(vmDir, SEED_FILES.userData), s.userData, 0o600);
  if (s.extraUserData !== undefined) {
    writeFileAtomic(join(vmDir, SEED_FILES.extraUserData), s.extraUserData, 0o600);
  }
  if (s.networkConfig !== undefined) {
    writeFileAtomic(join(vmDir, SEED_FILES.networkConfig), s.networkConfig, 0o600);
  }
}

/** Reads the sources; throws UsageError when meta-data or user-data is missing. */
export function readSeedSources(vmDir: string): SeedSources {
  const read = (f: string) => readTextIfExists(join(vmDir, f));
  const metaData = read(SEED_FILES.metaData);
  const userData = read(SEED_FILES.userData);
  if (metaData === undefined || userData === undefined) {
    throw new UsageError(
      `VM "${vmDir}" has no cloud-init sources ("${SEED_FILES.metaData}", "${SEED_FILES.userData}"); ` +
        `it was not made with --image`,
    );
  }
  const s: SeedSources = { metaData, userData };
  const extra = read(SEED_FILES.extraUserData);
  if (extra !== undefined) s.extraUserData = extra;
  const net = read(SEED_FILES.networkConfig);
  if (net !== undefined) s.networkConfig = net;
  return s;
}

/**
 * The ISO's files from the sources (user-data composed with the extra part). Pure but for the
 * boundary.
 */
export function seedIsoFiles(
  s: SeedSources,
  extraSource: string = SEED_FILES.extraUserData,
  shares: readonly ShareMount[] = [],
): IsoFile[] {
  const enc = new TextEncoder();
  const userData = composeUserData(
    s.userData,
    s.extraUserData,
    extraSource,
    newBoundary(),
    sharesCloudConfig(shares),
  );
  const files: IsoFile[] = [
    { name: "meta-data", data: enc.encode(s.metaData) },
    { name: "user-data", data: enc.encode(userData) },
  ];
  if (s.networkConfig !== undefined) {
    files.push({ name: "network-config", data: enc.encode(s.networkConfig) });
  }
  return files;
}

/**
 * Builds `<vmDir>/seed.iso` from the sources and the VM's shared folders
 * (`shares`: the guest mounts them at boot) (0600, atomic). Throws
 * UsageError for bad sources, ParseError for a broken `shares` file.
 */
export function writeSeed(vmDir: string): void {
  const shares = readShares(vmDir).map((r) => ({
    tag: r.tag,
    guestPath: guestMountPoint(r),
    readonly: r.readonly,
  }));
  const iso = buildIso(
    SEED_VOLUME_ID,
    seedIsoFiles(readSeedSources(vmDir), SEED_FILES.extraUserData, shares),
  );
  writeFileAtomic(join(vmDir, SEED_FILES.iso), iso, 0o600);
}

/** What a regeneration did. */
export interface RegenerateResult {
  instanceId: string;
  /** Whether the instance-id is new. */
  newInstanceId: boolean;
}

/**
 * `vm cloud-init <vm> regenerate`: rebuilds `seed.iso` from the edited
 * sources; with `newId` (or when meta-data has none) writes a new
 * instance-id into `cloud-init/meta-data` first. Holds the VM's lock.
 */
export function regenerateSeed(vmDir: string, newId: boolean): Promise<RegenerateResult> {
  return withVmLock(vmDir, basename(vmDir), () => {
    const s = readSeedSources(vmDir);
    let id = instanceIdOf(s.metaData);
    const fresh = newId || id === undefined;
    if (fresh) {
      id = newInstanceId();
      writeFileAtomic(join(vmDir, SEED_FILES.metaData), withInstanceId(s.metaData, id), 0o600);
    }
    writeSeed(vmDir);
    return { instanceId: id ?? "", newInstanceId: fresh };
  });
}

/** What {@link authorizeVmKey} did. */
export interface KeyAuthorization {
  /** "added", "present" already, or "no-list": user-data has no one list to add it to. */
  result: "added" | "present" | "no-list";
  /** vm's public key line. */
  key: string;
}

/**
 * Adds vm's SSH key of `vmdir` (made on first need) to the user-data of the
 * VM in `vmDir` when it lacks it (seed.ts withAuthorizedKey). The guest takes
 * it at its next boot with a new instance-id (cloud-init adds keys, never
 * removes them). Throws UsageError for a VM without cloud-init sources (not
 * made with --image) before anything is written. Reads and writes
 * `cloud-init/user-data`, `$VMDIR/.default/ssh/`.
 */
export async function authorizeVmKey(vmdir: string, vmDir: string): Promise<KeyAuthorization> {
  const { userData } = readSeedSources(vmDir);
  const key = (await clientKey(vmdir)).publicLine;
  const next = withAuthorizedKey(userData, key);
  if (next === "present" || next === "no-list") return { result: next, key };
  writeFileAtomic(join(vmDir, SEED_FILES.userData), next, 0o600);
  return { result: "added", key };
}

/** What to tell the user when vm's key could not be added to user-data. Pure. */
export function noKeyListText(name: string, key: string): string {
  return `${name}: vm's SSH key is not in ${SEED_FILES.userData}, which has no one ` +
    `"ssh_authorized_keys:" list to add it to; for "vm ssh" add it to the login user's: ${key}`;
}
