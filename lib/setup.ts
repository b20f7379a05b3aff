/**
 * Setting up `$VMDIR/.default` from the shipped `default/` tree: templates are
 * added but a template already there is never overwritten (the user may have
 * edited it); the service scripts are (re)written with the absolute path of
 * the `vm` executable, so they work whatever runsvdir's PATH is.
 * Writes `$VMDIR/.default/**`.
 * @module
 */

import { dirname, join } from "node:path";
import { writeFileAtomic } from "./atomic_file.ts";
import { SystemError } from "./errors.ts";
import { DEFAULT_VM, F, SCRIPTS } from "./layout.ts";
import { quoteWord } from "./shell_words.ts";
import { templateNames } from "./templates.ts";

/** Placeholder for the `vm` executable in the shipped service scripts. */
export const VM_PLACEHOLDER = "@VM@";

/** What setupDefault did. */
export interface SetupReport {
  /** The `.default` directory. */
  dir: string;
  /** Templates that were added. */
  added: string[];
  /** Templates that differ from the shipped ones and were kept as they are. */
  kept: string[];
  /** Service scripts that were written or changed. */
  scripts: string[];
}

/** A service script's text with the `vm` executable filled in. Pure. */
export function renderScript(text: string, vmExe: string): string {
  return text.replaceAll(VM_PLACEHOLDER, quoteWord(vmExe));
}

/**
 * Creates or updates `<vmdir>/.default` from the shipped tree `srcDir`
 * (`default/` of the source), with service scripts that exec `vmExe`.
 * Idempotent: a second run changes nothing. Never overwrites a template.
 */
export function setupDefault(srcDir: string, vmdir: string, vmExe: string): SetupReport {
  const dir = join(vmdir, DEFAULT_VM);
  const report: SetupReport = { dir, added: [], kept: [], scripts: [] };
  const srcTemplates = join(srcDir, F.templates);
  let names: string[];
  try {
    names = templateNames(srcTemplates);
  } catch (e) {
    throw new SystemError(
      `Cannot read the shipped templates in "${srcTemplates}": ${(e as Error).message}`,
    );
  }
  Deno.mkdirSync(join(dir, F.templates), { recursive: true });
  for (const name of names) {
    const want = Deno.readTextFileSync(join(srcTemplates, name));
    const path = join(dir, F.templates, name);
    let have: string | undefined;
    try {
      have = Deno.readTextFileSync(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (have === undefined) {
      writeFileAtomic(path, want);
      report.added.push(name);
    } else if (have !== want) {
      report.kept.push(name);
    }
  }
  for (const script of SCRIPTS) {
    const want = renderScript(Deno.readTextFileSync(join(srcDir, script)), vmExe);
    const path = join(dir, script);
    Deno.mkdirSync(dirname(path), { recursive: true });
    let have: string | undefined;
    try {
      have = Deno.readTextFileSync(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (have !== want) {
      writeFileAtomic(path, want, 0o755);
      report.scripts.push(script);
    }
  }
  return report;
}
