/**
 * The VM's TPM 2.0: swtpm, a companion process of the VM (lib/service/companions.ts), with its
 * state in the VM's `tpm/` (0700; swtpm's files 0600) and its control socket
 * `supervise/tpm`, which the `tpm` template's `-chardev socket` connects to. `--terminate`
 * ties it to QEMU: it ends when QEMU's connection closes, whether QEMU stops, crashes or is
 * killed. The argv is pure; {@link findSwtpm} searches PATH, {@link ensureTpmState} makes the
 * directory.
 * @module
 */

import { join } from "../os/path.ts";
import { SystemError } from "../errors.ts";
import { F } from "../layout.ts";
import { findExecutable } from "../os/exec.ts";
import { makeDir, statIfExists } from "../os/fs.ts";
import type { Env } from "./config.ts";

/** The companion's name in messages and its mark. */
export const SWTPM = "swtpm";

/** swtpm as a companion of the VM in `vmDir` (the shape of lib/service/companions.ts's spec). Pure. */
export function swtpmCompanion(
  vmDir: string,
  swtpm: string,
): { name: string; argv: string[]; ready: string } {
  return {
    name: SWTPM,
    argv: [
      swtpm,
      "socket",
      "--tpm2",
      // Relative to the VM directory (swtpm's cwd): a socket address holds 108 bytes at most.
      "--tpmstate",
      `dir=./${F.tpmState},mode=0600`,
      "--ctrl",
      `type=unixio,path=./${F.tpmSocket}`,
      "--terminate",
    ],
    ready: join(vmDir, F.tpmSocket),
  };
}

/** The swtpm program; throws SystemError naming the package when it is not installed. */
export function findSwtpm(env: Env, cwd: string): string {
  const found = findExecutable(SWTPM, env.PATH ?? "/usr/local/bin:/usr/bin:/bin", cwd);
  if (found !== undefined) return found;
  throw new SystemError(
    `${SWTPM} not found in PATH, and the VM has a TPM (template tpm); install swtpm ` +
      `(apt-get install swtpm)`,
  );
}

/** Makes the VM's `tpm/` (0700) when it is missing: a TPM is then new, as after `vm make --tpm`. */
export function ensureTpmState(vmDir: string): void {
  const dir = join(vmDir, F.tpmState);
  if (statIfExists(dir)?.isDirectory !== true) makeDir(dir);
}
