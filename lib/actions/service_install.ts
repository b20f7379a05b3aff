/**
 * Installing vmd (`vm daemon`) as a runit user service or a systemd user
 * unit (`vm service install runit|systemd`, `install.sh --service`). The
 * files come from `$VMDIR/.default/` where setup rendered them with the
 * installed `vm`'s path. A file there already is replaced only when it
 * carries {@link OWN_MARK} (we wrote it); anything else is left alone.
 * Writes `${SVDIR:-~/service}/vmd/run` (runit) or
 * `${XDG_CONFIG_HOME:-~/.config}/systemd/user/vmd.service` (systemd); runs
 * `systemctl --user daemon-reload` and `enable` when systemctl works.
 * @module
 */

import { join } from "../os/path.ts";
import { exists, readTextIfExists, writeFileAtomic } from "../os/fs.ts";
import { CheckFailedError, SystemError, UsageError } from "../errors.ts";
import { DEFAULT_VM, F, VMD } from "../layout.ts";
import { findRunsvdir } from "../qemu/processes.ts";

/** The service managers vmd can be installed for. */
export const SERVICE_KINDS = ["runit", "systemd"] as const;
/** A service manager vmd can be installed for. */
export type ServiceKind = typeof SERVICE_KINDS[number];

/** Text in every service file `vm service install` writes: a file without it is not ours. */
export const OWN_MARK = 'written by "vm service install"';

/** Checks a service manager's name; throws UsageError. Pure. */
export function checkKind(kind: string): ServiceKind {
  if ((SERVICE_KINDS as readonly string[]).includes(kind)) return kind as ServiceKind;
  throw new UsageError(`Unknown service manager "${kind}"; use ${SERVICE_KINDS.join(" or ")}`);
}

/** The environment that decides where services go. */
export interface ServiceEnv {
  HOME?: string;
  XDG_CONFIG_HOME?: string;
  SVDIR?: string;
}

/**
 * Where vmd goes: the runit service directory `${SVDIR:-~/service}/vmd`
 * (the per-user runsvdir's directory) or the systemd user unit file. Pure.
 */
export function serviceTarget(kind: ServiceKind, env: ServiceEnv): string {
  const home = env.HOME || undefined;
  const need = (what: string) => {
    if (home === undefined) throw new UsageError(`HOME is not set; set HOME or ${what}`);
    return home;
  };
  if (kind === "runit") return join(env.SVDIR || join(need("SVDIR"), "service"), VMD.name);
  const config = env.XDG_CONFIG_HOME || join(need("XDG_CONFIG_HOME"), ".config");
  return join(config, "systemd", "user", VMD.unit);
}

/** What installService did. */
export interface ServiceReport {
  kind: ServiceKind;
  /** The service directory (runit) or unit file (systemd). */
  path: string;
  /** What happened to it. */
  action: "created" | "updated" | "unchanged";
  /** systemd: whether `systemctl --user daemon-reload` and `enable` succeeded. */
  enabled?: boolean;
  /** Why systemctl could not be used, when it could not. */
  systemctlError?: string;
  /** runit: the runsvdir watching the service's parent directory, if one runs. */
  runsvdir?: number;
}

function source(vmdir: string, name: string): string {
  const path = join(vmdir, DEFAULT_VM, name);
  const text = readTextIfExists(path);
  if (text === undefined) {
    throw new SystemError(
      `"${path}" is missing; run ./install.sh from the vm source to create it`,
    );
  }
  return text;
}

function notOurs(path: string): CheckFailedError {
  return new CheckFailedError(
    `"${path}" exists and was not ${OWN_MARK}; it is left as it is: remove it to install ` +
      `vmd there, or keep using it`,
  );
}

/** Writes `path` with `text` unless it is the same; throws when it exists and is not ours. */
function place(path: string, text: string, mode: number): "created" | "updated" | "unchanged" {
  const have = readTextIfExists(path);
  if (have === text) return "unchanged";
  if (have !== undefined && !have.includes(OWN_MARK)) throw notOurs(path);
  writeFileAtomic(path, text, mode);
  return have === undefined ? "created" : "updated";
}

async function systemctl(args: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("systemctl", {
      args: ["--user", ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (out.success) return undefined;
    const err = new TextDecoder().decode(out.stderr).trim().split("\n")[0] ?? "";
    return `"systemctl --user ${args.join(" ")}" failed: ${err || `exit ${out.code}`}`;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return '"systemctl" is not installed';
    throw e;
  }
}

/**
 * Installs vmd for `kind` from `$VMDIR/.default`, into the place
 * {@link serviceTarget} names for `env`; see the module doc. Throws
 * CheckFailedError when a file there is not ours, SystemError when
 * `.default` lacks the service files.
 */
export async function installService(
  kind: ServiceKind,
  vmdir: string,
  env: ServiceEnv,
): Promise<ServiceReport> {
  const path = serviceTarget(kind, env);
  if (kind === "systemd") {
    const text = source(vmdir, VMD.unit);
    Deno.mkdirSync(join(path, ".."), { recursive: true });
    const action = place(path, text, 0o644);
    let err = await systemctl(["daemon-reload"]);
    if (err === undefined) err = await systemctl(["enable", VMD.unit]);
    const report: ServiceReport = { kind, path, action, enabled: err === undefined };
    if (err !== undefined) report.systemctlError = err;
    return report;
  }
  const text = source(vmdir, VMD.run);
  const run = join(path, F.run);
  let action: ServiceReport["action"];
  if (exists(path)) {
    if (!exists(run)) throw notOurs(path);
    action = place(run, text, 0o755);
  } else {
    // Assembled under a dot-name (runsvdir skips those), then renamed into
    // place, so a runsvdir watching the directory never sees half a service.
    const svdir = join(path, "..");
    const tmp = join(svdir, `.${VMD.name}.new-${Deno.pid}`);
    Deno.mkdirSync(tmp, { recursive: true });
    try {
      writeFileAtomic(join(tmp, F.run), text, 0o755);
      Deno.renameSync(tmp, path);
    } catch (e) {
      Deno.removeSync(tmp, { recursive: true });
      throw e;
    }
    action = "created";
  }
  const report: ServiceReport = { kind, path, action };
  const [watcher] = findRunsvdir(join(path, ".."));
  if (watcher !== undefined) report.runsvdir = watcher;
  return report;
}

/**
 * Whether the service installed as `r` runs vmd now or will by itself:
 * false for a runit service no runsvdir watches (nothing would ever run it). Pure.
 */
export function serviceWillRun(r: ServiceReport): boolean {
  return r.kind !== "runit" || r.runsvdir !== undefined;
}

/** What to tell the user after installService: the next steps, one line each. Pure. */
export function nextSteps(r: ServiceReport): string[] {
  if (r.kind === "systemd") {
    const lines = r.enabled ? [`Enabled ${VMD.unit}: it starts with your user session.`] : [
      `Could not enable it (${r.systemctlError}); when your user's systemd runs:`,
      `  systemctl --user daemon-reload && systemctl --user enable ${VMD.unit}`,
    ];
    return [
      ...lines,
      `Start it now: systemctl --user start ${VMD.name}`,
      `Stop it (every VM powers off gracefully first): systemctl --user stop ${VMD.name}`,
      `To keep VMs running while you are logged out: loginctl enable-linger`,
    ];
  }
  const svdir = join(r.path, "..");
  return [
    r.runsvdir !== undefined
      ? `runsvdir PID ${r.runsvdir} watches "${svdir}": it starts vmd within 5 s.`
      : `vmd is not running: no runsvdir watches "${svdir}". Start your user's runsvdir ` +
        `("runsvdir ${svdir}", e.g. from your session or boot scripts), and it starts vmd.`,
    `Check it: sv status ${r.path}`,
    `Stop it (every VM powers off gracefully first): sv -w 300 down ${r.path}`,
  ];
}
