/**
 * One VM as one value, read from its directory once and passed down: what
 * `vm list`, `vm status`, `vm info`, `vm start`, the runit entry points
 * (`__run`, `__stop`, `__finish`) and the exporters know of a VM.
 * {@link inspectVm} reads the directory (one read: its entries and their
 * types); every file in it is read when first asked for and kept — runsv's
 * status, `wait`, `ports`, the templates — so that a process opens each file
 * of a VM at most once, and a listing of many VMs reads only what it shows.
 * A snapshot: what changes while a command waits (runsv's status during a
 * start or a stop) is polled with lib/runit/status.ts.
 * Its disks are lib/vm/disk_paths.ts's (what its templates name). Reads
 * `<vm>/` and, when asked, `<vm>/{supervise/ok,supervise/status,wait,ports,shares}`,
 * `<vm>/templates/*`.
 * @module
 */

import { basename, join } from "../os/path.ts";
import { dirEntries, type EntryType, pathExists } from "../os/lookup.ts";
import { readTextIfExists } from "../os/fs.ts";
import { F } from "../layout.ts";
import { isSupervised, readStatus, type Status } from "../runit/status.ts";
import type { Env } from "./config.ts";
import {
  DEFAULT_WAIT,
  readVmDirs,
  type VmEntries,
  vmEntries,
  waitOf,
  type WaitRead,
} from "./dir.ts";
import { parsePorts, type PortRule } from "./ports.ts";
import { parseShares, type ShareRule } from "./shares.ts";
import { type Attachment, readAttachments } from "./network.ts";
import {
  type ParsedTemplate,
  parseTemplate,
  readTemplateDir,
  readTemplateText,
  templateNamesIn,
} from "./templates.ts";

/** A directory's read: its entries, or why it could not be read. */
type DirRead = { entries: Map<string, EntryType> } | { error: unknown };

/** One VM (see the module): its name, directory and entries, and its files on first use. */
export class Vm {
  /** The VM's name: its directory's. */
  readonly name: string;
  /** The VM's directory. */
  readonly dir: string;
  /** The directory's entries with their types (one read, lib/vm/dir.ts vmEntries). */
  readonly entries: VmEntries;
  #supervised?: boolean;
  #status?: { read: Status | undefined };
  #wait?: WaitRead;
  #portsText?: { text: string | undefined };
  #sharesText?: { text: string | undefined };
  #templateDir?: DirRead;
  #attachments?: Attachment[];
  #texts = new Map<string, string | undefined>();

  constructor(dir: string, name: string, entries: VmEntries = vmEntries(dir)) {
    this.dir = dir;
    this.name = name;
    this.entries = entries;
  }

  /** Whether a runsv supervises the VM now (its `supervise/ok` opens). */
  get supervised(): boolean {
    return this.#supervised ??= this.entries.has(F.supervise) && isSupervised(this.dir);
  }

  /** runsv's `supervise/status`, undefined when runsv never ran here (possibly stale: see `supervised`). */
  get status(): Status | undefined {
    this.#status ??= { read: this.entries.has(F.supervise) ? readStatus(this.dir) : undefined };
    return this.#status.read;
  }

  /** Whether the VM starts with vmd: no `down`, or a link named `down` that leads nowhere (runsv stats it). */
  get autostart(): boolean {
    const down = this.entries.get(F.down);
    return down === undefined || (down === "symlink" && !pathExists(join(this.dir, F.down)));
  }

  /** Whether the VM has a `hooks` file. */
  get hooks(): boolean {
    return this.entries.has(F.hooks);
  }

  /** Whether the VM logs (has a `log/` service). */
  get log(): boolean {
    return this.entries.has(F.log);
  }

  /** Seconds the guest gets to power off (lib/vm/dir.ts waitOf: DEFAULT_WAIT when not usable). */
  get wait(): number {
    return this.#waitRead().wait;
  }

  /** Why the `wait` file was not used, when it was not (see waitOf). */
  get waitProblem(): string | undefined {
    return this.#waitRead().problem;
  }

  #waitRead(): WaitRead {
    return this.#wait ??= this.entries.has(F.wait) ? waitOf(this.dir) : { wait: DEFAULT_WAIT };
  }

  /**
   * The `ports` file's forwards; undefined when the VM has no `ports` file.
   * Throws ParseError (`<vm>/ports:<line>: …`) for a file that does not parse.
   */
  get ports(): PortRule[] | undefined {
    const path = join(this.dir, F.ports);
    this.#portsText ??= { text: this.entries.has(F.ports) ? readTextIfExists(path) : undefined };
    const text = this.#portsText.text;
    return text === undefined ? undefined : parsePorts(text, path);
  }

  /**
   * The `shares` file's shared folders; none without the file. Throws
   * ParseError (`<vm>/shares:<line>: …`) for a file that does not parse.
   */
  get shares(): ShareRule[] {
    const path = join(this.dir, F.shares);
    this.#sharesText ??= { text: this.entries.has(F.shares) ? readTextIfExists(path) : undefined };
    const text = this.#sharesText.text;
    return text === undefined ? [] : parseShares(text, path);
  }

  /**
   * The VM's NICs on private networks and bridges (its `networks` file, lib/vm/network.ts);
   * none without one. Throws ParseError for a file that does not parse.
   */
  get attachments(): Attachment[] {
    return this.#attachments ??= this.entries.has(F.networks) ? readAttachments(this.dir) : [];
  }

  /**
   * The entries of `templates/` with their types; undefined when it cannot
   * be read (lib/vm/safety.ts then judges no template; {@link templates} throws why).
   */
  get templateEntries(): ReadonlyMap<string, EntryType> | undefined {
    const read = this.#readTemplateDir();
    return "entries" in read ? read.entries : undefined;
  }

  #readTemplateDir(): DirRead {
    if (this.#templateDir !== undefined) return this.#templateDir;
    const dir = `${this.dir}/${F.templates}`;
    // One read (lib/os/libc.ts dirEntries: cheap for `vm list`); only when that fails is it
    // read again, for the error templateNames would throw.
    const entries = dirEntries(dir);
    if (entries !== undefined) return this.#templateDir = { entries };
    try {
      this.#templateDir = { entries: readTemplateDir(dir) };
    } catch (e) {
      this.#templateDir = { error: e };
    }
    return this.#templateDir;
  }

  /**
   * The names of the VM's templates in the order vm reads them
   * (lib/vm/templates.ts templateNamesIn); none without `templates/`.
   * Throws what reading `templates/` threw otherwise.
   */
  get templates(): string[] {
    const read = this.#readTemplateDir();
    if ("entries" in read) return templateNamesIn(join(this.dir, F.templates), read.entries);
    if (read.error instanceof Deno.errors.NotFound) return [];
    throw read.error;
  }

  /** The text of template `name` (lib/vm/templates.ts readTemplateText), undefined when gone. */
  templateText(name: string): string | undefined {
    if (!this.#texts.has(name)) this.#texts.set(name, readTemplateText(this.dir, name));
    return this.#texts.get(name);
  }

  /**
   * Every template parsed with `env`, in order. File names in errors are
   * relative to the VM directory (`templates/mem:3`). Throws ParseError.
   */
  readTemplates(env: Env): ParsedTemplate[] {
    return this.templates.map((name) => {
      const rel = `${F.templates}/${name}`;
      return { name, args: parseTemplate(this.templateText(name) ?? "", rel, env) };
    });
  }
}

/** VM `name` of `vmdir` (not checked: see requireVm). */
export function inspectVm(vmdir: string, name: string): Vm {
  return new Vm(join(vmdir, name), name);
}

/** The VM in directory `dir` (runit's entry points get the directory). */
export function inspectDir(dir: string): Vm {
  return new Vm(dir, basename(dir));
}

/**
 * Every VM of `vmdir` as lib/vm/dir.ts readVmDirs finds them, in its order,
 * with the entries that read gave (one read per VM).
 */
export function inspectVms(vmdir: string): Vm[] {
  return [...readVmDirs(vmdir)].map(([name, entries]) => new Vm(`${vmdir}/${name}`, name, entries));
}
