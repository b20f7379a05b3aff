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

import { dirname } from "../os/path.ts";
import { isInsideDir, realPathOrUndefined } from "../os/fs.ts";
import { type EntryType, type FileMode, fileMode, S_IFDIR, S_IFLNK, S_IFMT } from "../os/lookup.ts";
import { byteOrder } from "../text/byte_order.ts";
import { quoteWord } from "../text/shell_words.ts";
import { F } from "../layout.ts";
import type { Vm } from "./inspect.ts";

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

/** What the check needs of a file: its mode (type and permission bits) and owner. */
export type Owned = Pick<FileMode, "mode" | "uid">;

/**
 * The problem of one existing file or directory (`st`, at `file`) run by
 * `uid`, or undefined: writable by group or others, or owned by someone
 * else but root. Pure.
 */
export function modeProblem(file: string, st: Owned, uid: number): Problem | undefined {
  if (st.uid !== uid && st.uid !== 0) {
    return {
      file,
      why: `is owned by uid ${st.uid}, not by uid ${uid} who runs the VM`,
      fix: `chown ${uid} ${quoteWord(file)}`,
    };
  }
  if ((st.mode & 0o022) !== 0) {
    const who = (st.mode & 0o002) !== 0 ? "others" : "its group";
    return {
      file,
      why: `is writable by ${who} (mode ${octal(st.mode)})`,
      fix: `chmod go-w ${quoteWord(file)}`,
    };
  }
  return undefined;
}

/** One VM's check under way: its problems, the runner, and what is shared between VMs. */
class Check {
  readonly out: Problem[] = [];
  #realDir?: string;
  constructor(readonly vmDir: string, readonly uid: number, readonly seen: Set<string>) {}

  /** The mode problem of `file` whose mode and owner are `st`. */
  judge(file: string, st: FileMode): void {
    const p = modeProblem(file, st, this.uid);
    if (p !== undefined) this.out.push(p);
  }

  /** The mode problem of `file` (a symlink followed), if it exists. */
  mode(file: string): void {
    const st = fileMode(file);
    if (st !== undefined) this.judge(file, st);
  }

  /** `file`, a symlink: a problem when its target lies outside the VM directory. */
  link(file: string): void {
    const target = realPathOrUndefined(file);
    if (target === undefined) return; // dangling: nothing is read through it
    this.#realDir ??= realPathOrUndefined(this.vmDir) ?? this.vmDir;
    if (isInsideDir(this.#realDir, target)) return;
    this.out.push({
      file,
      why: `is a symbolic link to "${target}", outside the VM's directory`,
      fix: `cp --remove-destination ${quoteWord(target)} ${quoteWord(file)}`,
    });
  }

  /**
   * A file a user may replace: a link only within the VM, and (with `mode`)
   * private. `type`: its entry's type, when known (then a file that is no
   * link needs a lookup only for `mode`).
   */
  replaceable(file: string, mode: boolean, type?: EntryType): void {
    if (type !== undefined && type !== "symlink") {
      if (mode) this.mode(file);
      return;
    }
    const st = fileMode(file, false);
    if (st === undefined) return;
    if ((st.mode & S_IFMT) !== S_IFLNK) {
      if (mode) this.judge(file, st);
      return;
    }
    this.link(file);
    if (mode) this.mode(file);
  }

  /**
   * A runit script (`run`, `finish`, `control/t`): a link into `.default`,
   * whose script and directory are judged once for all VMs; else the file.
   * `type`: its entry's type, when known.
   */
  script(file: string, type?: EntryType): void {
    const target = fileMode(file);
    if (target === undefined || this.seen.has(target.id)) return;
    this.seen.add(target.id);
    const link = type !== undefined
      ? type === "symlink"
      : ((fileMode(file, false)?.mode ?? 0) & S_IFMT) === S_IFLNK;
    if (!link) return this.judge(file, target);
    const path = realPathOrUndefined(file) ?? file;
    this.judge(path, target);
    const dir = dirname(path);
    if (!this.seen.has(dir)) {
      this.seen.add(dir);
      this.mode(dir);
    }
  }

  /** `templates/` and every template in it (`read`: its entries, when it could be read). */
  templates(read: ReadonlyMap<string, EntryType> | undefined): void {
    const dir = `${this.vmDir}/${F.templates}`;
    const st = fileMode(dir);
    if (st === undefined || (st.mode & S_IFMT) !== S_IFDIR) return;
    this.judge(dir, st);
    const entries = [...read ?? []].filter(([n, t]) =>
      !n.startsWith(".") && (t === "file" || t === "symlink")
    );
    for (const [n, t] of entries.sort(([a], [b]) => byteOrder(a, b))) {
      this.replaceable(`${dir}/${n}`, true, t);
    }
  }
}

let uid: number | undefined;

/** Our uid, the VM's runner when we start it (asked once: `vm list` checks many VMs). */
function runner(): number {
  return uid ??= Deno.uid() ?? 0;
}

/**
 * Every problem that makes `vm` unsafe to run by `uid` (see the module), in
 * a fixed order; empty when it is safe. `seen` lets a caller checking many
 * VMs judge each shared `.default` script once. No lookup throws (one
 * system call each: `vm list` checks every stopped VM).
 */
export function vmProblems(vm: Vm, uid: number = runner(), seen = new Set<string>()): Problem[] {
  const { dir: vmDir, entries } = vm;
  const c = new Check(vmDir, uid, seen);
  const st = fileMode(vmDir);
  if (st === undefined) return c.out;
  c.judge(vmDir, st);
  // Only what is there is looked up: `vm list` checks every stopped VM.
  const at = (rel: string) => `${vmDir}/${rel}`;
  const hooks = entries.get(F.hooks);
  if (hooks !== undefined) c.replaceable(at(F.hooks), true, hooks);
  const wait = entries.get(F.wait);
  if (wait !== undefined) c.replaceable(at(F.wait), false, wait);
  for (const rel of [F.run, F.finish]) {
    const type = entries.get(rel);
    if (type !== undefined) c.script(at(rel), type);
  }
  if (entries.has(F.control)) {
    c.script(at(F.controlT));
    c.mode(at(F.control));
  }
  if (entries.has(F.templates)) c.templates(vm.templateEntries);
  return c.out;
}
