/**
 * The QEMU command line `vm __run` executes: which binary, and the arguments
 * QEMU gets besides the templates (the HMP monitor and QMP sockets, relative
 * to the VM directory, which is QEMU's working directory). Pure, except
 * `findQemu`, which searches PATH.
 * @module
 */

import { join, resolve } from "../os/path.ts";
import { SystemError } from "../errors.ts";
import { F } from "../vm/files.ts";
import type { Env } from "../vm/config.ts";

/** The QEMU program name from the settings: VMCONF_QEMU, else qemu-system-<VMCONF_QEMU_ARCH or host arch>. Pure. */
export function qemuProgram(env: Env, hostArch: string = Deno.build.arch): string {
  if (env.VMCONF_QEMU) return env.VMCONF_QEMU;
  return `qemu-system-${env.VMCONF_QEMU_ARCH || hostArch}`;
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

function isExecutableFile(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    return st.isFile && ((st.mode ?? 0) & 0o111) !== 0;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return false;
    if (e instanceof Deno.errors.PermissionDenied) return false;
    throw e;
  }
}

/**
 * Resolves `program` to an executable path: as given when it contains a
 * `/`, otherwise through `PATH` of `env`; relative paths are relative to
 * `cwd`, where QEMU runs. Throws SystemError naming the binary.
 */
export function findQemu(program: string, env: Env, cwd: string): string {
  if (program.includes("/")) {
    if (isExecutableFile(resolve(cwd, program))) return program;
    throw new SystemError(
      `QEMU binary "${program}" does not exist or is not executable; fix VMCONF_QEMU`,
    );
  }
  for (const dir of (env.PATH ?? "/usr/local/bin:/usr/bin:/bin").split(":")) {
    const path = join(dir || ".", program);
    if (isExecutableFile(resolve(cwd, path))) return path;
  }
  throw new SystemError(
    `QEMU binary "${program}" not found in PATH; install QEMU or set VMCONF_QEMU`,
  );
}
