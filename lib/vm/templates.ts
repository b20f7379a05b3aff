/**
 * Templates: files of QEMU arguments in a VM's `templates/` directory (and the
 * choice of templates for a new VM). Parsing is pure and never executes text;
 * reading a VM's templates reads `templates/*` in byte order of their names
 * (the cloud-init seed's last), skipping dotfiles, byte for byte (bytes that
 * are not UTF-8 reach QEMU unchanged: lib/text/raw_text.ts), and never
 * through a symlink that leaves the VM directory.
 * @module
 */

import { basename, join } from "../os/path.ts";
import { ParseError, UsageError } from "../errors.ts";
import { CLOUD_TEMPLATES, F, ONCE_TEMPLATE } from "../layout.ts";
import { byteOrder } from "../text/byte_order.ts";
import { lexCommands, quoteWords } from "../text/shell_words.ts";
import { decodeRaw } from "../text/raw_text.ts";
import { takesValue } from "../qemu/flags.ts";
import { readFileInside, statIfExists, writeFileAtomic } from "../os/fs.ts";
import type { Env } from "./config.ts";
import type { EntryType } from "../os/lookup.ts";
import { withVmLock } from "./lock.ts";

/**
 * Parses one template's text into QEMU arguments. Pure; throws ParseError
 * (`<file>:<line>`), also for a word that expands to nothing where an
 * option's value belongs (`-name $UNSET`): QEMU would take the next word as
 * the value, shifting every argument after it.
 */
export function parseTemplate(text: string, file: string, env: Env): string[] {
  const out: string[] = [];
  let option: string | undefined; // an option whose value comes next
  // Own properties only: `$constructor` must not find Object.prototype's members.
  const lookup = (name: string) => Object.hasOwn(env, name) ? env[name] : undefined;
  for (const cmd of lexCommands(text, { file, lookup, keepVanished: true })) {
    for (const w of cmd) {
      if (w.vanished !== undefined) {
        if (option === undefined) continue;
        throw new ParseError(
          file,
          w.line,
          `"${w.vanished}" expands to nothing, so "${option}" would take the next word as its ` +
            `value; set what it names, or quote it ("${w.vanished}") for an empty value`,
        );
      }
      option = option === undefined && takesValue(w.value) ? w.value : undefined;
      out.push(w.value);
    }
  }
  return out;
}

/**
 * The text of template `name` of the VM in `vmDir`, byte for byte (see the
 * module); undefined when it is gone. Throws SystemError for a symlink out of
 * the VM directory. Reads `<vmDir>/templates/<name>`.
 */
export function readTemplateText(vmDir: string, name: string): string | undefined {
  const bytes = readFileInside(vmDir, join(vmDir, F.templates, name));
  return bytes === undefined ? undefined : decodeRaw(bytes);
}

/**
 * Template names in the order vm reads them: byte order, but the seed's
 * template (`cloud-init`) last, so the seed is attached after every disk
 * and the VM's own disk stays the first of its interface (`/dev/vda`)
 * whatever the other templates are named. Pure.
 */
export function templateOrder(names: readonly string[]): string[] {
  const sorted = [...names].sort(byteOrder);
  const last = sorted.filter((n) => n === CLOUD_TEMPLATES.seed);
  return [...sorted.filter((n) => n !== CLOUD_TEMPLATES.seed), ...last];
}

/** The entries of templates directory `dir` with their types. Reads `dir`; throws as Deno.readDirSync. */
export function readTemplateDir(dir: string): Map<string, EntryType> {
  const out = new Map<string, EntryType>();
  for (const e of Deno.readDirSync(dir)) {
    out.set(e.name, e.isFile ? "file" : e.isDirectory ? "dir" : e.isSymlink ? "symlink" : "other");
  }
  return out;
}

/**
 * The template files among `entries` (the entries of templates directory
 * `dir`): dotfiles skipped, files and links to files, in
 * {@link templateOrder}. Reads (stat) the links.
 */
export function templateNamesIn(dir: string, entries: ReadonlyMap<string, EntryType>): string[] {
  const names = [...entries].filter(([name, type]) =>
    !name.startsWith(".") &&
    (type === "file" || (type === "symlink" && statIfExists(join(dir, name))?.isFile === true))
  );
  return templateOrder(names.map(([name]) => name));
}

/** Names of the template files in directory `dir` (see templateNamesIn). Reads `dir`. */
export function templateNames(dir: string): string[] {
  return templateNamesIn(dir, readTemplateDir(dir));
}

/** A template file and the arguments it gave. */
export interface ParsedTemplate {
  name: string;
  args: string[];
}

/** The prefix of a template name that choosing another template of the same prefix replaces. */
export function templatePrefix(name: string): string {
  const i = name.indexOf("-");
  return i < 0 ? name : name.slice(0, i);
}

/**
 * The templates a new VM gets: `defaults` plus `chosen`, where each chosen
 * template replaces any other with the same prefix (`mem-4g` drops `mem`).
 * `available` lists the templates that exist. Pure. Throws UsageError for an
 * unknown name (listing the available ones) or two chosen with one prefix.
 */
export function chooseTemplates(
  defaults: readonly string[],
  chosen: readonly string[],
  available: readonly string[],
): string[] {
  for (const name of [...defaults, ...chosen]) {
    if (!available.includes(name)) {
      throw new UsageError(
        `Unknown template "${name}"; available: ${available.join(" ")}`,
      );
    }
  }
  const seen = new Map<string, string>();
  for (const name of chosen) {
    const other = seen.get(templatePrefix(name));
    if (other !== undefined && other !== name) {
      throw new UsageError(
        `Templates "${other}" and "${name}" both set "${templatePrefix(name)}"; choose one`,
      );
    }
    seen.set(templatePrefix(name), name);
  }
  const result = defaults.filter((d) => !seen.has(templatePrefix(d)));
  for (const name of chosen) if (!result.includes(name)) result.push(name);
  return result.sort(byteOrder);
}

/**
 * Appends `args` to the VM's `once` template, each quoted so it parses back
 * as exactly the same word; nothing is evaluated. Holds the VM's lock.
 * Writes `<vmDir>/templates/once` atomically.
 */
export function appendOnce(vmDir: string, args: readonly string[]): Promise<void> {
  return withVmLock(vmDir, basename(vmDir), () => {
    let text = readTemplateText(vmDir, ONCE_TEMPLATE) ?? "";
    if (text !== "" && !text.endsWith("\n")) text += "\n";
    writeFileAtomic(join(vmDir, F.once), text + quoteWords(args) + "\n");
  });
}
