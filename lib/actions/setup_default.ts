/**
 * Setting up `$VMDIR/.default` from the shipped `default/` tree: templates are
 * added but a template already there is never overwritten (the user may have
 * edited it); the service scripts are (re)written with the absolute path of
 * the `vm` executable, so they work whatever runsvdir's PATH is; so are
 * vmd's service files (`.default/vmd/run`, `.default/vmd.service`), which
 * `vm service install` copies into place. Whatever the umask, what it
 * creates is private: `$VMDIR` (when it makes it) and its directories 0700,
 * templates and the unit 0600, scripts 0700.
 * Writes `$VMDIR/.default/**`.
 * @module
 */

import { dirname, join } from "../os/path.ts";
import { makeDir, MODE, writeFileAtomic } from "../os/fs.ts";
import { SystemError } from "../errors.ts";
import { DEFAULT_VM, F, NET, SCRIPTS, VMD } from "../layout.ts";
import { quoteWord } from "../text/shell_words.ts";
import { templateNames } from "../vm/templates.ts";

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
 * A systemd unit's text with the `vm` executable filled in: as is when the
 * path needs no quoting, else in double quotes with `\` and `"` escaped; `%`
 * is doubled (systemd's specifier escape). Pure.
 */
export function renderUnit(text: string, vmExe: string): string {
  const path = vmExe.replaceAll("%", "%%");
  const word = /^[A-Za-z0-9_/.+@%:,-]+$/.test(path)
    ? path
    : `"${path.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
  return text.replaceAll(VM_PLACEHOLDER, word);
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
  makeDir(join(dir, F.templates), MODE.dir, true);
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
  // vmd's service files, rendered for `vm service install`: the runit run
  // script from `default/vmd/run`, the systemd unit from `vmd.service` next to
  // `default/` (the source root).
  const files: { name: string; want: string; mode: number }[] = [
    ...[...SCRIPTS, NET.run].map((script) => ({
      name: script as string,
      want: renderScript(Deno.readTextFileSync(join(srcDir, script)), vmExe),
      mode: MODE.script,
    })),
    {
      name: VMD.run,
      want: renderScript(Deno.readTextFileSync(join(srcDir, VMD.run)), vmExe),
      mode: MODE.script,
    },
    {
      name: VMD.unit,
      want: renderUnit(Deno.readTextFileSync(join(srcDir, "..", VMD.unit)), vmExe),
      mode: MODE.file,
    },
  ];
  for (const { name: script, want, mode } of files) {
    const path = join(dir, script);
    makeDir(dirname(path), MODE.dir, true);
    let have: string | undefined;
    try {
      have = Deno.readTextFileSync(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (have !== want) {
      writeFileAtomic(path, want, mode);
      report.scripts.push(script);
    }
  }
  return report;
}
