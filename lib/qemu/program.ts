/**
 * The QEMU command line `vm __run` executes: which binary, and the arguments
 * QEMU gets besides the templates (the HMP monitor and QMP sockets, relative
 * to the VM directory, which is QEMU's working directory). Pure, except
 * `findQemu`, which searches PATH.
 * @module
 */

import { findExecutable } from "../os/exec.ts";
import { SystemError } from "../errors.ts";
import { F } from "../layout.ts";
import { qemuPackage } from "./arch.ts";

/**
 * The QEMU program name: VMCONF_QEMU, else `qemu-system-<arch>` of the VM's
 * `arch` (given), else of VMCONF_QEMU_ARCH or the host's arch. Pure.
 */
export function qemuProgram(
  env: Readonly<Record<string, string>>,
  arch?: string,
  hostArch: string = Deno.build.arch,
): string {
  if (env.VMCONF_QEMU) return env.VMCONF_QEMU;
  return `qemu-system-${arch ?? (env.VMCONF_QEMU_ARCH || hostArch)}`;
}

/** QEMU's arguments for one VM: the templates' arguments, then the monitor and QMP sockets. Pure. */
export function qemuArgs(templateArgs: readonly string[]): string[] {
  return [
    ...templateArgs,
    "-monitor",
    `unix:${F.monitor},server=on,wait=off`,
    "-qmp",
    `unix:${F.qmp},server=on,wait=off`,
  ];
}

/**
 * Resolves `program` to an executable path: as given when it contains a
 * `/`, otherwise through `PATH` of `env`; relative paths are relative to
 * `cwd`, where QEMU runs. Throws SystemError naming the binary and, for
 * `qemu-system-<arch>`, the Debian package that has it.
 */
export function findQemu(
  program: string,
  env: Readonly<Record<string, string>>,
  cwd: string,
  arch?: string,
): string {
  const found = findExecutable(program, env.PATH ?? "/usr/local/bin:/usr/bin:/bin", cwd);
  if (found !== undefined) return found;
  if (program.includes("/")) {
    throw new SystemError(
      `QEMU binary "${program}" does not exist or is not executable; fix VMCONF_QEMU`,
    );
  }
  if (arch !== undefined && program === `qemu-system-${arch}`) {
    throw new SystemError(
      `QEMU binary "${program}" not found in PATH; install ${qemuPackage(arch)} ` +
        `(apt-get install ${qemuPackage(arch)}) or set VMCONF_QEMU`,
    );
  }
  throw new SystemError(
    `QEMU binary "${program}" not found in PATH; install QEMU or set VMCONF_QEMU`,
  );
}
