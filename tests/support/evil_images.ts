/**
 * Test support: hostile disk images, made with
 * qemu-img in a directory of the test's: a qcow2 whose external data file is
 * a "secret" host file, one backed by a file outside any allowed directory,
 * one whose backing file is a `json:` name, a vmdk whose extent is the
 * secret. Not a test file.
 * @module
 */

import { join } from "node:path";

/** Runs qemu-img `args`; throws with its stderr when it fails. */
export async function img(args: string[]): Promise<void> {
  const out = await new Deno.Command("qemu-img", { args, stdin: "null" }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

/** The hostile images made in a directory, and the secret they reach. */
export interface EvilImages {
  /** A host file the images must never give a guest (`SECRET` in it). */
  secret: string;
  /** qcow2 with `data_file` = the secret (raw data file). */
  dataFile: string;
  /** qcow2 backed (raw) by the secret, outside every allowed directory. */
  backingOut: string;
  /** qcow2 whose backing file is a `json:{"driver":"nbd",…}` name. */
  jsonBacking: string;
  /** A vmdk descriptor whose flat extent is the secret. */
  vmdk: string;
}

/** The secret's text. */
export const SECRET = "SECRET-OF-THE-HOST\n";

/**
 * Makes the hostile images (1 MiB each) in `dir`, and the secret in
 * `secretDir` (keep it out of every directory the test allows).
 */
export async function evilImages(dir: string, secretDir: string): Promise<EvilImages> {
  const sdir = secretDir;
  for (const d of [dir, sdir]) Deno.mkdirSync(d, { recursive: true });
  const secret = join(sdir, "shadow");
  Deno.writeTextFileSync(secret, SECRET.padEnd(1 << 20, "\n"));
  const dataFile = join(dir, "datafile.qcow2");
  const scratch = join(dir, "scratch.raw");
  await img([
    "create",
    "-q",
    "-f",
    "qcow2",
    "-o",
    `data_file=${scratch},data_file_raw=on`,
    dataFile,
    "1M",
  ]);
  await img(["amend", "-q", "-o", `data_file=${secret}`, dataFile]);
  Deno.removeSync(scratch);
  const backingOut = join(dir, "backing-out.qcow2");
  await img(["create", "-q", "-f", "qcow2", "-u", "-b", secret, "-F", "raw", backingOut, "1M"]);
  const jsonBacking = join(dir, "json-backing.qcow2");
  const nbd = 'json:{"driver":"nbd","server":{"type":"inet","host":"127.0.0.1","port":"9"}}';
  await img(["create", "-q", "-f", "qcow2", "-u", "-b", nbd, "-F", "raw", jsonBacking, "1M"]);
  const vmdk = join(dir, "extent.vmdk");
  Deno.writeTextFileSync(
    vmdk,
    '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n' +
      `RW 2048 FLAT "${secret}" 0\nddb.adapterType = "ide"\n`,
  );
  return { secret, dataFile, backingOut, jsonBacking, vmdk };
}
