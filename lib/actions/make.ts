/**
 * Creating a VM (`vm make`). The VM is assembled under a dot-name in `$VMDIR`
 * (runsvdir and `vm list` skip dot-names) and renamed into place only when
 * complete, so no half-made VM is ever seen or left behind. Then, when it
 * boots an ISO and vmd is running, it waits until vmd supervises it (the
 * caller starts it once: lib/actions/start_stop.ts).
 * Writes `$VMDIR/<vm>/` (down, wait, drive.qcow2, templates/, run, finish,
 * control/t, log/), private whatever the umask (directories 0700, files
 * 0600); reads `$VMDIR/.default/templates/`.
 * @module
 */

import { join, relative, resolve } from "../os/path.ts";
import { makeDir, MODE, removeTree, statIfExists, writeFileAtomic } from "../os/fs.ts";
import { UsageError, VmExistsError } from "../errors.ts";
import { DEFAULT_VM, F, SCRIPTS } from "../layout.ts";
import { createImage } from "../qemu/img.ts";
import { inspectOne } from "../qemu/image_check.ts";
import { checkSize } from "../text/units.ts";
import { quoteWords } from "../text/shell_words.ts";
import { chooseTemplates, templateNames } from "../vm/templates.ts";
import { checkWait, defaultDir, freeVmPath, vmPath } from "../vm/dir.ts";
import { waitSupervised } from "../runit/control.ts";
import { findRunsvdir } from "../qemu/processes.ts";
import { withVmdirLock } from "../vm/lock.ts";
import { attachNew } from "./net_new.ts";
import { requireNetwork } from "../vm/network.ts";

/** Everything `vm make` needs to create a VM. */
export interface MakeSpec {
  name: string;
  /** Disk size (qemu-img syntax). */
  disk: string;
  /** Seconds the guest gets to power off. */
  wait: string;
  /** Whether to add a `log/` service. */
  log: boolean;
  /** Template names chosen on top of the defaults. */
  templates: string[];
  /** Default template names (VMCONF_DEFAULT_TEMPLATES). */
  defaults: string[];
  /** ISO to boot from once, if any. */
  iso?: string;
  /** Makes the disk at the path given (default: an empty qcow2 of `disk`). */
  makeDisk?: (path: string) => Promise<void>;
  /**
   * Adds more to the VM directory being assembled (cloud-init), before it is renamed into place;
   * runs holding the VMDIR's lock (lib/vm/lock.ts).
   */
  populate?: (dir: string) => Promise<void>;
  /** Private networks to attach the VM to (`--net`), a free address on each (lib/actions/net.ts). */
  nets?: string[];
  /** Without the user-mode NIC (`--no-nat`): only the networks' NICs. */
  noNat?: boolean;
}

/** What makeVm did. */
export interface MakeResult {
  dir: string;
  templates: string[];
  /** Whether a runsvdir supervises VMDIR. */
  vmdRunning: boolean;
  /** Whether vmd picked the VM up (a runsv supervises it), when made with an ISO. */
  supervised: boolean;
}

/** The `once` template that boots an ISO. Pure. */
export function isoOnce(isoPath: string): string {
  return quoteWords(["-cdrom", isoPath, "-boot", "order=d"]) + "\n";
}

/** Templates available in `.default` of `vmdir`. Reads `$VMDIR/.default/templates`. */
export function availableTemplates(vmdir: string): string[] {
  return templateNames(join(defaultDir(vmdir), F.templates));
}

/**
 * Checks a spec completely before anything is written; returns the final
 * template list and the absolute ISO path. Throws UsageError / VmExistsError.
 */
export function checkSpec(vmdir: string, spec: MakeSpec): { templates: string[]; iso?: string } {
  freeVmPath(vmdir, spec.name);
  checkSize(spec.disk);
  checkWait(spec.wait);
  const templates = chooseTemplates(spec.defaults, spec.templates, availableTemplates(vmdir));
  for (const net of spec.nets ?? []) requireNetwork(vmdir, net);
  if (spec.noNat === true && (spec.nets ?? []).length === 0) {
    throw new UsageError('"--no-nat" leaves the VM without a network: give "--net NAME" too');
  }
  if (spec.iso === undefined) return { templates };
  const iso = resolve(spec.iso);
  if (statIfExists(iso)?.isFile !== true) {
    throw new UsageError(
      `ISO "${spec.iso}" does not exist or is not a file; give the path of an ISO`,
    );
  }
  return { templates, iso };
}

/** Links `<dir>/<script>` to the same script in `.default` (relative link). */
function linkScript(dir: string, vmdir: string, script: string): void {
  const target = relative(join(dir, script, ".."), join(vmdir, DEFAULT_VM, script));
  Deno.symlinkSync(target, join(dir, script));
}

/** Renames the assembled `tmp` to `final`; throws VmExistsError when the name was taken meanwhile. */
function placeVm(tmp: string, final: string, name: string, vmdir: string): void {
  try {
    Deno.renameSync(tmp, final);
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists || /not empty|exists/i.test(String(e))) {
      throw new VmExistsError(name, vmdir);
    }
    throw e;
  }
}

/**
 * Creates VM `spec.name` in `vmdir`; see the module doc. An ISO must be one
 * (raw: lib/qemu/image_check.ts). On any failure the temporary directory is
 * removed and the error rethrown; an existing VM is never touched.
 */
export async function makeVm(vmdir: string, spec: MakeSpec): Promise<MakeResult> {
  const { templates, iso } = checkSpec(vmdir, spec);
  // QEMU probes a -cdrom's format: an "ISO" that is a qcow2 could give the guest any host file.
  if (iso !== undefined) await inspectOne(iso, { backingDirs: [], formats: ["raw"] });
  const final = vmPath(vmdir, spec.name);
  const tmp = join(vmdir, `.make-${spec.name}-${Deno.pid}`);
  const src = defaultDir(vmdir);
  try {
    for (const d of ["", F.templates, F.control]) makeDir(join(tmp, d));
    writeFileAtomic(join(tmp, F.down), "");
    writeFileAtomic(join(tmp, F.wait), checkWait(spec.wait) + "\n");
    for (const t of templates) {
      Deno.copyFileSync(join(src, F.templates, t), join(tmp, F.templates, t));
      Deno.chmodSync(join(tmp, F.templates, t), MODE.file);
    }
    if (iso !== undefined) writeFileAtomic(join(tmp, F.once), isoOnce(iso));
    for (const script of SCRIPTS) {
      if (script.startsWith(F.log + "/")) continue;
      linkScript(tmp, vmdir, script);
    }
    if (spec.log) {
      for (const d of [F.log, F.logMain]) makeDir(join(tmp, d));
      linkScript(tmp, vmdir, join(F.log, F.run));
    }
    const drive = join(tmp, F.drive);
    await (spec.makeDisk ?? ((path) => createImage(path, spec.disk)))(drive);
    Deno.chmodSync(drive, MODE.file);
    // Under VMDIR's lock: a host port populate picks (cloud-init's SSH forward) stays unique.
    const populate = spec.populate;
    const nets = spec.nets ?? [];
    if (populate === undefined && nets.length === 0) placeVm(tmp, final, spec.name, vmdir);
    else {
      await withVmdirLock(vmdir, async () => {
        if (populate !== undefined) await populate(tmp);
        // Addresses picked under VMDIR's lock: no other attach takes them meanwhile.
        if (nets.length > 0) attachNew(vmdir, tmp, spec.name, nets, spec.noNat === true);
        placeVm(tmp, final, spec.name, vmdir);
      });
    }
  } catch (e) {
    removeTree(tmp);
    throw e;
  }
  const vmdRunning = findRunsvdir(vmdir).length > 0;
  // Only a VM that boots an ISO is started (once, by the caller); it waits for its runsv.
  const supervised = vmdRunning && iso !== undefined && await waitSupervised(final, 7000);
  return { dir: final, templates, vmdRunning, supervised };
}
