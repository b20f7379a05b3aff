/**
 * Configuration of `vm`: which config file applies, parsing it (never running
 * it), and the resulting settings. The file is a list of `KEY=value` lines as a
 * shell would read them (optional `export`, comments, quoting, `$VAR`), and
 * its values override the environment, as when the seed sourced it.
 * Reads: the config file (`$VMCONF`, else the first found of
 * `$XDG_CONFIG_HOME/runit-vm/conf`, `~/.config/runit-vm/conf`, `/etc/runit-vm/conf`).
 * @module
 */

import { join } from "../os/path.ts";
import { readTextCapped, statIfExists } from "../os/fs.ts";
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

/** The waits of a download (lib/images/http.ts): which one. */
export type HttpWait = "connect" | "header" | "idle";

/** How long a download waits, in milliseconds. */
export interface HttpTimeouts {
  /** For the connection (TCP, and TLS's handshake). */
  connectMs: number;
  /** From the request to the end of the answer's head. */
  headerMs: number;
  /** For each read of the body: the longest silence of a server mid-body. */
  idleMs: number;
}

/** The settings bounding a download's waits, in seconds, and their defaults. */
export const HTTP_TIMEOUT_SETTINGS: Record<HttpWait, { key: string; seconds: number }> = {
  connect: { key: "VMCONF_HTTP_CONNECT_TIMEOUT", seconds: 30 },
  header: { key: "VMCONF_HTTP_HEADER_TIMEOUT", seconds: 30 },
  idle: { key: "VMCONF_HTTP_IDLE_TIMEOUT", seconds: 60 },
};

/**
 * A download's waits from `env` (the config's environment: file over
 * environment), the defaults where unset (all of them for `{}`). Pure.
 * Throws UsageError for a value that is not a number of seconds above 0
 * (fractions allowed) up to a day.
 */
export function httpTimeouts(env: Env): HttpTimeouts {
  const ms = (wait: HttpWait): number => {
    const { key, seconds } = HTTP_TIMEOUT_SETTINGS[wait];
    const text = env[key];
    if (text === undefined || text === "") return seconds * 1000;
    const n = /^[0-9]+(\.[0-9]+)?$/.test(text) ? Number(text) : NaN;
    if (!(n > 0 && n <= 86400)) {
      throw new UsageError(
        `${key}="${text}" is not a number of seconds from 0 to 86400; give e.g. ${seconds}`,
      );
    }
    return n * 1000;
  };
  return { connectMs: ms("connect"), headerMs: ms("header"), idleMs: ms("idle") };
}

/** The largest config file read (and image catalog: lib/images/catalog.ts), in bytes. */
export const MAX_CONFIG = 1 << 20;

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
 * The config files looked for when `$VMCONF` is not set, in order, for
 * every user (root too): `$XDG_CONFIG_HOME/runit-vm/conf` when
 * XDG_CONFIG_HOME is set, `~/.config/runit-vm/conf` when HOME is, then
 * `/etc/runit-vm/conf`. Pure.
 */
export function configCandidates(env: Env): string[] {
  const out: string[] = [];
  if (env.XDG_CONFIG_HOME) out.push(join(env.XDG_CONFIG_HOME, "runit-vm/conf"));
  if (env.HOME) out.push(join(env.HOME, ".config/runit-vm/conf"));
  out.push(SYSTEM_CONF);
  return [...new Set(out)];
}

/**
 * Chooses the config file: `$VMCONF` when set (even when missing: reading it
 * then fails), else the first of {@link configCandidates} that exists.
 * `exists` tells whether a path exists. Returns undefined when no file
 * applies. Pure.
 */
export function chooseConfigFile(
  env: Env,
  exists: (path: string) => boolean,
): string | undefined {
  if (env.VMCONF !== undefined && env.VMCONF !== "") return env.VMCONF;
  return configCandidates(env).find(exists);
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

/** Whether `path` exists (a config file candidate). Reads its metadata. */
export function fileExists(path: string): boolean {
  return statIfExists(path) !== undefined;
}

/**
 * Reads and parses config file `file` (see parseConfig). Throws ParseError
 * for a bad file, UsageError when it cannot be read (a missing `$VMCONF`)
 * or is larger than MAX_CONFIG.
 */
export function readConfigFile(file: string, env: Env): Env {
  let text: string | undefined;
  try {
    text = readTextCapped(file, MAX_CONFIG);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(
        `Config file "${file}" (VMCONF) does not exist; create it or unset VMCONF`,
      );
    }
    throw new UsageError(`Cannot read config file "${file}": ${(e as Error).message}`);
  }
  if (text === undefined) {
    throw new UsageError(
      `Config file "${file}" is larger than 1 MiB; it holds KEY=value lines: check what it is`,
    );
  }
  return parseConfig(text, file, env);
}

/**
 * Loads the configuration of this process: chooses and parses the config file,
 * applies it over the environment, fills defaults. Reads the config file.
 * Throws ParseError for a bad file, UsageError when `$VMCONF` names a missing file.
 */
export function loadConfig(env: Env = Deno.env.toObject()): Config {
  const file = chooseConfigFile(env, fileExists);
  if (file === undefined) return settingsFrom(env);
  return settingsFrom({ ...env, ...readConfigFile(file, env) }, file);
}
