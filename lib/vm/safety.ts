/**
 * Whether a VM directory is safe to run, as OpenSSH judges `~/.ssh`: `vm
 * __run` executes the VM's `hooks` (and, through `run`, `finish` and
 * `control/t`, the scripts in `.default`) and hands its templates to QEMU, so
 * none of them, nor the directories holding them, may be writable by group or
 * others or owned by another user than the one who runs the VM (root's are
 * fine: only root can change them); and `hooks`, `wait` and the templates may
 * be symlinks only within the VM directory. Each problem names the file and
 * the command that fixes it. Reads (stat, lstat, readlink) `<vm>`,
 * `<vm>/{hooks,wait,run,finish,control/t,templates/*}` and the scripts they
 * link to.
 * @module
 */

import { dirname, join } from "../os/path.ts";
import { isInsideDir, lstatIfExists, realPathOrUndefined, statIfExists } from "../os/fs.ts";
import { pathExists } from "../os/libc.ts";
import { quoteWord } from "../text/shell_words.ts";
import { F } from "./files.ts";
import { templateNames } from "./templates.ts";

/** One reason a VM is unsafe to run. */
export interface Problem {
  /** The file or directory (absolute). */
  file: string;
  /** What is wrong, e.g. `is writable by others (mode 0666)`. */
  why: string;
  /** The shell command that fixes it. */
  fix: string;
}

/** One line for a problem: `"<file>" <why>; fix: <fix>`. Pure. */
export function problemLine(p: Problem): string {
  return `"${p.file}" ${p.why}; fix: ${p.fix}`;
}

/** The octal text of a mode: 0755. Pure. */
function octal(mode: number): string {
  return "0" + (mode & 0o7777).toString(8).padStart(3, "0");
}

/**
 * The problem of one existing file or directory `st` (at `file`) run by
 * `uid`, or undefined: writable by group or others, or owned by someone
 * else but root. Pure.
 */
export function modeProblem(file: string, st: Deno.FileInfo, uid: number): Problem | undefined {
  const mode = st.mode ?? 0;
  const owner = st.uid ?? uid;
  if (owner !== uid && owner !== 0) {
    return {
      file,
      why: `is owned by uid ${owner}, not by uid ${uid} who runs the VM`,
      fix: `chown ${uid} ${quoteWord(file)}`,
    };
  }
  if ((mode & 0o022) !== 0) {
    const who = (mode & 0o002) !== 0 ? "others" : "its group";
    return {
      file,
      why: `is writable by ${who} (mode ${octal(mode)})`,
      fix: `chmod go-w ${quoteWord(file)}`,
    };
  }
  return undefined;
}

/** The problem of `file` (stat follows links), pushed to `out` when there is one. */
function checkMode(out: Problem[], file: string, uid: number): void {
  const st = statIfExists(file);
  if (st === undefined) return;
  const p = modeProblem(file, st, uid);
  if (p !== undefined) out.push(p);
}

/** A symlink `file` whose target leaves `realDir` (the VM directory, canonical), pushed to `out`. */
function checkLink(out: Problem[], realDir: string, file: string): void {
  if (lstatIfExists(file)?.isSymlink !== true) return;
  const target = realPathOrUndefined(file);
  if (target === undefined || isInsideDir(realDir, target)) return;
  out.push({
    file,
    why: `is a symbolic link to "${target}", outside the VM's directory`,
    fix: `cp --remove-destination ${quoteWord(target)} ${quoteWord(file)}`,
  });
}

/**
 * The problems of the script a VM's `run`, `finish` or `control/t` is (a
 * link into `.default`): the script itself and the directory holding it.
 */
function checkScript(out: Problem[], file: string, uid: number, seen: Set<string>): void {
  const real = realPathOrUndefined(file);
  if (real === undefined) return;
  for (const f of [real, dirname(real)]) {
    if (seen.has(f)) continue;
    seen.add(f);
    checkMode(out, f, uid);
  }
}

/**
 * Every problem that makes the VM in `vmDir` unsafe to run by `uid` (see
 * the module), in a fixed order; empty when it is safe. `seen` lets a
 * caller checking many VMs judge each shared `.default` script once.
 */
export function vmProblems(
  vmDir: string,
  uid: number = Deno.uid() ?? 0,
  seen = new Set<string>(),
): Problem[] {
  const out: Problem[] = [];
  const realDir = realPathOrUndefined(vmDir);
  if (realDir === undefined) return out;
  checkMode(out, vmDir, uid);
  for (const rel of [F.hooks, F.wait]) {
    const file = join(vmDir, rel);
    if (!pathExists(file) && lstatIfExists(file) === undefined) continue;
    checkLink(out, realDir, file);
    if (rel === F.hooks) checkMode(out, file, uid);
  }
  for (const rel of [F.run, F.finish, F.controlT]) checkScript(out, join(vmDir, rel), uid, seen);
  checkMode(out, join(vmDir, F.control), uid);
  const tdir = join(vmDir, F.templates);
  checkMode(out, tdir, uid);
  let names: string[] = [];
  try {
    names = templateNames(tdir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e; // no templates: nothing to check
  }
  for (const n of names) {
    const file = join(tdir, n);
    checkLink(out, realDir, file);
    checkMode(out, file, uid);
  }
  return out;
}
