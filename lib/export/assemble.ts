/**
 * Assembling a new VM directory the way `vm make` does (lib/actions/make.ts):
 * everything is built under a dot-name in `$VMDIR` (runsvdir and `vm list`
 * skip dot-names), the VM is made a runit service directory of vm (`down`,
 * `control/`, links to `.default`'s `run`, `finish`, `control/t`, and
 * `log/run` when it logs), and one rename puts it in place; on any failure
 * the dot-directory is removed, so nothing half-made is ever seen or left.
 * Writes `$VMDIR/.<label>-<vm>-<pid>/` and `$VMDIR/<vm>/`. Area lib/export, at the level of actions.
 * @module
 */

import { dirname, join, relative } from "../os/path.ts";
import { exists, makePrivate, removeTree } from "../os/fs.ts";
import { VmExistsError } from "../errors.ts";
import { DEFAULT_VM, F, SCRIPTS } from "../layout.ts";
import { defaultDir, vmPath } from "../vm/dir.ts";

/**
 * Makes `dir` (being assembled; it becomes `final`) a service directory of
 * vm: writes `down`, creates `control/` and links the scripts, relative to
 * where they will be. Writes in `dir`.
 */
export function addServiceFiles(dir: string, final: string, vmdir: string): void {
  Deno.writeTextFileSync(join(dir, F.down), "", { mode: 0o600 });
  Deno.mkdirSync(join(dir, F.control), { recursive: true, mode: 0o700 });
  for (const script of SCRIPTS) {
    if (script.startsWith(F.log + "/") && !exists(join(dir, F.log))) continue;
    const target = relative(dirname(join(final, script)), join(vmdir, DEFAULT_VM, script));
    try {
      Deno.removeSync(join(dir, script));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    Deno.symlinkSync(target, join(dir, script));
  }
}

/**
 * Builds VM `name` in `vmdir`: `build(tmp, final)` fills the fresh dot
 * directory `tmp` (mode 0700) and returns the directory in it that is the VM
 * (`tmp` itself or one inside it), which then gets the service files and is
 * renamed to `final`. Throws VmExistsError when the name is taken (before and
 * after building); removes `tmp` in every case. Returns `final`.
 */
export async function assembleVm(
  vmdir: string,
  name: string,
  label: string,
  build: (tmp: string, final: string) => Promise<string>,
): Promise<string> {
  const final = vmPath(vmdir, name);
  if (exists(final)) throw new VmExistsError(name, vmdir);
  defaultDir(vmdir);
  const tmp = join(vmdir, `.${label}-${name}-${Deno.pid}`);
  Deno.mkdirSync(tmp, { mode: 0o700 });
  try {
    const dir = await build(tmp, final);
    makePrivate(dir); // disks and files are private whatever the umask (issue 9)
    addServiceFiles(dir, final, vmdir);
    if (exists(final)) throw new VmExistsError(name, vmdir);
    try {
      Deno.renameSync(dir, final);
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists || /not empty|exists/i.test(String(e))) {
        throw new VmExistsError(name, vmdir);
      }
      throw e;
    }
  } finally {
    removeTree(tmp);
  }
  return final;
}
