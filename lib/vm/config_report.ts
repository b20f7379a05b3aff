/**
 * What `vm config` shows: which config files were looked for and which one
 * was read, and every effective `VM*` setting with where its value came
 * from (the file, the environment, or the default). Reads the config file
 * and the candidates' metadata.
 * @module
 */

import {
  chooseConfigFile,
  configCandidates,
  DEFAULTS,
  type Env,
  fileExists,
  readConfigFile,
  settingsFrom,
} from "./config.ts";

/** Where a setting's value came from. */
export type Origin = "file" | "env" | "default";

/** One effective setting. */
export interface Setting {
  key: string;
  value: string;
  origin: Origin;
}

/** One config file looked for, and what became of it. */
export interface ConfigFileState {
  path: string;
  /** read: it applies; missing: not there; skipped: there, but an earlier one applies. */
  state: "read" | "missing" | "skipped";
}

/** The whole report. */
export interface ConfigReport {
  /** `$VMCONF` named the file (no search). */
  fromVmconf: boolean;
  files: ConfigFileState[];
  settings: Setting[];
}

/** The settings every report shows, set or not, in this order. */
export const KNOWN_KEYS = [
  "VMDIR",
  "VMCONF_DEFAULT_TEMPLATES",
  "VMCONF_DEFAULT_DRIVE",
  "VMCONF_DEFAULT_WAIT",
  "VMCONF_QEMU",
  "VMCONF_QEMU_ARCH",
] as const;

/**
 * The effective settings: {@link KNOWN_KEYS} with their values (defaults
 * filled in as `vm` fills them), then every other variable named `VM…` set
 * in the file or the environment, sorted. `fileVars` override `env`. Pure;
 * `hostArch` is the default QEMU architecture.
 */
export function effectiveSettings(env: Env, fileVars: Env, hostArch: string): Setting[] {
  const set = (v: string | undefined) => v !== undefined && v !== "";
  const cfg = settingsFrom({ ...env, ...fileVars });
  const arch = cfg.qemuArch ?? hostArch;
  const defaults: Record<string, string> = {
    ...DEFAULTS,
    VMDIR: cfg.vmdir,
    VMCONF_QEMU_ARCH: arch,
    VMCONF_QEMU: `qemu-system-${arch}`,
  };
  const origin = (key: string): Origin =>
    set(fileVars[key]) ? "file" : set(env[key]) ? "env" : "default";
  const value = (key: string) => {
    const o = origin(key);
    return o === "file" ? fileVars[key] ?? "" : o === "env" ? env[key] ?? "" : defaults[key] ?? "";
  };
  const others = [...new Set([...Object.keys(env), ...Object.keys(fileVars)])]
    .filter((k) => /^VM/.test(k) && !(KNOWN_KEYS as readonly string[]).includes(k))
    .filter((k) => k !== "VMCONF" && (set(env[k]) || set(fileVars[k])))
    .sort();
  return [...KNOWN_KEYS, ...others].map((key) => ({ key, value: value(key), origin: origin(key) }));
}

/**
 * The report for environment `env`: the files looked for (`exists` tells
 * which are there), the one read, the effective settings. Reads that file.
 * Throws as loadConfig does for a bad or missing `$VMCONF` file.
 */
export function configReport(
  env: Env,
  exists: (path: string) => boolean = fileExists,
  hostArch: string = Deno.build.arch,
): ConfigReport {
  const chosen = chooseConfigFile(env, exists);
  const fromVmconf = env.VMCONF !== undefined && env.VMCONF !== "";
  const candidates = fromVmconf ? [env.VMCONF ?? ""] : configCandidates(env);
  let before = true;
  const files = candidates.map((path): ConfigFileState => {
    if (path === chosen) {
      before = false;
      return { path, state: "read" };
    }
    return { path, state: before || !exists(path) ? "missing" : "skipped" };
  });
  const fileVars = chosen === undefined ? {} : readConfigFile(chosen, env);
  return { fromVmconf, files, settings: effectiveSettings(env, fileVars, hostArch) };
}
