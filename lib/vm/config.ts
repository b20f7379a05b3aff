/**
 * Configuration of `vm`: which config file applies, parsing it (never running
 * it), and the resulting settings. The file is a list of `KEY=value` lines as a
 * shell would read them (optional `export`, comments, quoting, `$VAR`), and
 * its values override the environment, as when the seed sourced it.
 * Reads: the config file (`$VMCONF`, `/etc/runit-vm/conf`, `~/.config/runit-vm/conf`,
 * `$XDG_CONFIG_HOME/runit-vm/conf`).
 * @module
 */

import { join } from "../os/path.ts";
import { statIfExists } from "../os/fs.ts";
import { ParseError, UsageError } from "../errors.ts";
import { lexCommands } from "../text/shell_words.ts";

/** Environment as a plain map. */
export type Env = Record<string, string>;

/** Settings `vm` uses, after config file, environment and defaults. */
export interface Config {
  /** Directory holding one directory per VM. */
  vmdir: string;
  /** Template names every new VM gets. */
  defaultTemplates: string[];
  /** Disk size for new VMs (qemu-img syntax). */
  defaultDrive: string;
  /** Seconds a guest gets to power off, for new VMs. */
  defaultWait: string;
  /** QEMU binary (VMCONF_QEMU), if set. */
  qemu?: string;
  /** QEMU architecture (VMCONF_QEMU_ARCH), if set. */
  qemuArch?: string;
  /** The config file that was read, or undefined when none exists. */
  file?: string;
  /** The environment with the file's values applied: what hooks, templates and QEMU see. */
  env: Env;
}

/** Defaults used when neither the file nor the environment sets a key. */
export const DEFAULTS = {
  VMCONF_DEFAULT_TEMPLATES: "display-none drive kvm mem vnc",
  VMCONF_DEFAULT_DRIVE: "20G",
  VMCONF_DEFAULT_WAIT: "10",
} as const;

/** The system-wide config file. */
export const SYSTEM_CONF = "/etc/runit-vm/conf";

/**
 * Parses a config file's text into its assignments, in order; `env` is what
 * `$VAR` sees for names the file has not set yet. Pure. Throws ParseError
 * (`<file>:<line>: …`, exit 100) for anything that is not an assignment.
 */
export function parseConfig(text: string, file: string, env: Env): Env {
  const vars: Env = {};
  // Own properties only: `$constructor` must not find Object.prototype's members.
  const lookup = (name: string) =>
    Object.hasOwn(vars, name) ? vars[name] : Object.hasOwn(env, name) ? env[name] : undefined;
  for (const cmd of lexCommands(text, { file, lookup, assignments: true })) {
    const [first, ...rest] = cmd;
    if (first === undefined) continue;
    const isExport = first.name === undefined && first.value === "export" && rest.length > 0;
    const second = cmd[1];
    if (!isExport && first.name !== undefined && second !== undefined) {
      throw new ParseError(
        file,
        second.line,
        "More than one word on a line; quote values that contain spaces",
      );
    }
    for (const w of isExport ? rest : cmd) {
      if (w.name !== undefined) {
        vars[w.name] = w.value;
      } else if (!isExport || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(w.value)) {
        // (`export NAME` is accepted: the name is already visible to us.)
        throw new ParseError(
          file,
          w.line,
          `"${w.value}" is not an assignment; only KEY=value lines are allowed (the file is not run)`,
        );
      }
    }
  }
  return vars;
}

/**
 * Chooses the config file as the seed did: `$VMCONF` when set, else the last
 * existing of `/etc/runit-vm/conf`, and (not as root) `~/.config/runit-vm/conf`
 * and `$XDG_CONFIG_HOME/runit-vm/conf`. `exists` tells whether a path exists.
 * Returns undefined when no file applies. Pure.
 */
export function chooseConfigFile(
  env: Env,
  isRoot: boolean,
  exists: (path: string) => boolean,
): string | undefined {
  if (env.VMCONF !== undefined && env.VMCONF !== "") return env.VMCONF;
  let chosen: string | undefined = exists(SYSTEM_CONF) ? SYSTEM_CONF : undefined;
  if (!isRoot) {
    if (env.HOME) {
      const home = join(env.HOME, ".config/runit-vm/conf");
      if (exists(home)) chosen = home;
    }
    if (env.XDG_CONFIG_HOME) {
      const xdg = join(env.XDG_CONFIG_HOME, "runit-vm/conf");
      if (exists(xdg)) chosen = xdg;
    }
  }
  return chosen;
}

/** Builds the settings from the environment with the file's values applied. Pure. */
export function settingsFrom(env: Env, file?: string): Config {
  const get = (k: string) => (env[k] !== undefined && env[k] !== "" ? env[k] : undefined);
  const home = get("HOME");
  const vmdir = get("VMDIR") ?? (home ? join(home, ".local/share/runit-vm") : undefined);
  if (vmdir === undefined) {
    throw new UsageError("Neither VMDIR nor HOME is set; set VMDIR to the directory of your VMs");
  }
  const templates = get("VMCONF_DEFAULT_TEMPLATES") ?? DEFAULTS.VMCONF_DEFAULT_TEMPLATES;
  const cfg: Config = {
    vmdir,
    defaultTemplates: templates.split(/\s+/).filter((t) => t !== ""),
    defaultDrive: get("VMCONF_DEFAULT_DRIVE") ?? DEFAULTS.VMCONF_DEFAULT_DRIVE,
    defaultWait: get("VMCONF_DEFAULT_WAIT") ?? DEFAULTS.VMCONF_DEFAULT_WAIT,
    env: { ...env, VMDIR: vmdir },
  };
  const qemu = get("VMCONF_QEMU");
  if (qemu !== undefined) cfg.qemu = qemu;
  const arch = get("VMCONF_QEMU_ARCH");
  if (arch !== undefined) cfg.qemuArch = arch;
  if (file !== undefined) cfg.file = file;
  return cfg;
}

function fileExists(path: string): boolean {
  return statIfExists(path) !== undefined;
}

/**
 * Loads the configuration of this process: chooses and parses the config file,
 * applies it over the environment, fills defaults. Reads the config file.
 * Throws ParseError for a bad file, UsageError when `$VMCONF` names a missing file.
 */
export function loadConfig(env: Env = Deno.env.toObject()): Config {
  const isRoot = Deno.uid() === 0;
  const file = chooseConfigFile(env, isRoot, fileExists);
  if (file === undefined) return settingsFrom(env);
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(
        `Config file "${file}" (VMCONF) does not exist; create it or unset VMCONF`,
      );
    }
    throw new UsageError(`Cannot read config file "${file}": ${(e as Error).message}`);
  }
  const vars = parseConfig(text, file, env);
  return settingsFrom({ ...env, ...vars }, file);
}
