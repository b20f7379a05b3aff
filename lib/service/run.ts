/**
 * Starting a VM: what `vm __run` (runit's `run`) does before it becomes QEMU,
 * and what `vm args` shows without doing it. Reads the config, runs the
 * `pre_qemu` hook, parses the templates, resolves QEMU; `__run` then deletes
 * `templates/once` (only after everything parsed), removes stale sockets and
 * executes QEMU in the VM directory under umask 077 — unless a QEMU already
 * runs there.
 * The `ports` file's forwards become `$VM_HOSTFWD`; a start whose host port
 * is taken is refused, naming the port and its holder.
 * Reads `<vm>/hooks`, `<vm>/templates/*`, `<vm>/ports`; deletes
 * `<vm>/templates/once` and `<vm>/supervise/{monitor,qmp,console,agent}`.
 * @module
 */

import { basename, join } from "../os/path.ts";
import type { Config, Env } from "../vm/config.ts";
import { SystemError } from "../errors.ts";
import { execve } from "../os/exec.ts";
import { type HookName, runPreQemu, spawnPostQemu } from "../vm/hooks.ts";
import { DEFAULT_VM, F, ONCE_TEMPLATE } from "../vm/files.ts";
import { findQemu, qemuArgs, qemuProgram } from "../qemu/program.ts";
import { chooseAccel, kvmProblem } from "../qemu/accel.ts";
import { readTemplates } from "../vm/templates.ts";
import { orphanQemu } from "../qemu/processes.ts";
import { hasHooks, removeSockets, vmEnv } from "../vm/dir.ts";
import { removeIfExists } from "../os/fs.ts";
import { portsEnv, readPorts } from "../vm/ports.ts";
import { checkPortsFree } from "../vm/port_check.ts";

/** Everything needed to execute QEMU for a VM. */
export interface StartPlan {
  /** Absolute path of the QEMU binary. */
  qemu: string;
  /** argv, argv[0] included. */
  argv: string[];
  /** QEMU's environment. */
  env: Env;
  /** Whether `templates/once` contributed arguments. */
  usesOnce: boolean;
  /** Hook functions the VM's hooks file defines. */
  hooks: Set<HookName>;
  /** Set when KVM was asked for but is not usable: TCG instead (lib/qemu/accel.ts). */
  accelNote?: string;
}

/**
 * Works out the QEMU command line for the VM in `vmDir` (absolute): runs
 * pre_qemu when the VM has hooks (as `__run` would), parses the templates,
 * finds QEMU. Changes nothing in the VM directory. Throws ParseError for a
 * bad template, SystemError for a missing QEMU or a failed hook.
 */
export async function planStart(cfg: Config, vmDir: string): Promise<StartPlan> {
  if (basename(vmDir) === DEFAULT_VM) {
    throw new SystemError(
      `"${DEFAULT_VM}" holds the defaults and is never run; run a VM made by "vm make"`,
    );
  }
  let env = { ...vmEnv(cfg, vmDir), ...portsEnv(vmDir) };
  let hooks = new Set<HookName>();
  if (hasHooks(vmDir)) {
    const r = await runPreQemu(vmDir, env);
    env = r.env;
    hooks = r.defined;
  }
  const templates = readTemplates(vmDir, env);
  const qemu = findQemu(qemuProgram(env), env, vmDir);
  const accel = chooseAccel(qemuArgs(templates.flatMap((t) => t.args)), kvmProblem());
  const argv = [qemu, ...accel.args];
  const usesOnce = templates.some((t) => t.name === ONCE_TEMPLATE);
  const plan: StartPlan = { qemu, argv, env, usesOnce, hooks };
  if (accel.note !== undefined) plan.accelNote = accel.note;
  return plan;
}

/**
 * Throws SystemError when an {@link orphanQemu} works in `vmDir`: a second
 * QEMU must not start, nor may its sockets be removed.
 */
export function checkNoOtherQemu(vmDir: string): void {
  const pid = orphanQemu(vmDir);
  if (pid === undefined) return;
  const name = basename(vmDir);
  throw new SystemError(
    `QEMU of "${name}" already runs without runsv (PID ${pid}; was its runsv killed?); ` +
      `not starting a second one: power it off with "vm qmp ${name} system_powerdown" ` +
      `or end it with "kill ${pid}"`,
  );
}

/**
 * `vm __run`: refuses when a QEMU already runs for the VM, plans the start,
 * consumes `once`, removes stale sockets, starts the post_qemu watcher, then
 * replaces this process with QEMU (cwd `vmDir`, umask 077); `note` gets the
 * line saying KVM fell back to TCG, when it did. Returns only by throwing.
 */
export async function runVm(
  cfg: Config,
  vmDir: string,
  note: (line: string) => void = () => {},
): Promise<never> {
  checkNoOtherQemu(vmDir);
  checkPortsFree(basename(vmDir), readPorts(vmDir));
  const plan = await planStart(cfg, vmDir);
  if (plan.accelNote !== undefined) note(plan.accelNote);
  if (plan.usesOnce) removeIfExists(join(vmDir, F.once));
  removeSockets(vmDir);
  Deno.umask(0o077);
  if (plan.hooks.has("post_qemu")) await spawnPostQemu(vmDir, plan.env, Deno.pid);
  return execve(plan.qemu, plan.argv, plan.env, vmDir);
}
