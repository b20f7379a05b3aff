/**
 * Starting a VM: what `vm __run` (runit's `run`) does before it becomes QEMU,
 * and what `vm args` shows without doing it. Reads the config, runs the
 * `pre_qemu` hook (bounded by the VM's wait, at least 10 s), parses the
 * templates, resolves QEMU; `__run` then deletes `templates/once` (only after
 * everything parsed), removes stale sockets and executes QEMU in the VM
 * directory under umask 077 — unless a QEMU already runs there, or the VM is
 * unsafe (lib/vm/safety.ts: a file others may write). First it ends an svlogd
 * left behind by a killed runsv, so that the VM's log works again.
 * The `ports` file's forwards become `$VM_HOSTFWD`; a start whose host port
 * is taken is refused, naming the port and its holder. When KVM is not
 * usable, QEMU runs with TCG (lib/qemu/accel.ts), and the log says so.
 * Reads `<vm>/hooks`, `<vm>/templates/*`, `<vm>/wait`, `<vm>/ports`; deletes
 * `<vm>/templates/once` and `<vm>/supervise/{monitor,qmp,console,vnc,agent}`;
 * signals stray svlogd processes of `<vm>/log`.
 * @module
 */

import { basename, dirname, join } from "../os/path.ts";
import { attachmentArgs } from "../vm/network.ts";
import type { Config, Env } from "../vm/config.ts";
import { SystemError } from "../errors.ts";
import { execve } from "../os/exec.ts";
import { HOOK_MIN_S, type HookName, runPreQemu, spawnPostQemu } from "../vm/hooks.ts";
import { DEFAULT_VM, F, ONCE_TEMPLATE } from "../layout.ts";
import { findQemu, qemuArgs, qemuProgram } from "../qemu/program.ts";
import { chooseAccel, kvmProblem } from "../qemu/accel.ts";
import { orphanQemu, strayLoggers } from "../qemu/processes.ts";
import { removeSockets, vmEnv } from "../vm/dir.ts";
import type { Vm } from "../vm/inspect.ts";
import { removeIfExists } from "../os/fs.ts";
import { portsEnv } from "../vm/ports.ts";
import { checkPortsFree } from "../vm/port_check.ts";
import { signal } from "../os/proc.ts";
import { problemLine, vmProblems } from "../vm/safety.ts";
import { type CompanionSpec, startCompanions } from "./companions.ts";
import { planShares } from "./shares_start.ts";

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
  /** The companion processes QEMU needs, started just before it (./companions.ts). */
  companions: CompanionSpec[];
}

/**
 * Works out the QEMU command line for `vm` (its directory absolute): runs
 * pre_qemu when the VM has hooks (as `__run` would), parses the templates,
 * finds QEMU. Changes nothing in the VM directory. Throws ParseError for a
 * bad template, SystemError for a missing QEMU or a failed hook.
 */
export async function planStart(cfg: Config, vm: Vm): Promise<StartPlan> {
  const vmDir = vm.dir;
  if (vm.name === DEFAULT_VM) {
    throw new SystemError(
      `"${DEFAULT_VM}" holds the defaults and is never run; run a VM made by "vm make"`,
    );
  }
  let env = { ...vmEnv(cfg, vmDir), ...portsEnv(vm.ports) };
  let hooks = new Set<HookName>();
  if (vm.hooks) {
    const r = await runPreQemu(vmDir, env, Math.max(vm.wait, HOOK_MIN_S));
    env = r.env;
    hooks = r.defined;
  }
  const templates = vm.readTemplates(env);
  const qemu = findQemu(qemuProgram(env), env, vmDir);
  const templateArgs = templates.flatMap((t) => t.args);
  const shares = planShares(vm, env, templateArgs);
  const accel = chooseAccel(qemuArgs([...templateArgs, ...shares.args]), kvmProblem());
  // The NICs on private networks and bridges (lib/vm/network.ts), after the templates.
  const argv = [qemu, ...accel.args, ...attachmentArgs(dirname(vmDir), vm.attachments)];
  const usesOnce = templates.some((t) => t.name === ONCE_TEMPLATE);
  const companions: CompanionSpec[] = [...shares.companions];
  const plan: StartPlan = { qemu, argv, env, usesOnce, hooks, companions };
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
      `not starting a second one: power it off with "vm stop ${name}" (or "kill ${pid}")`,
  );
}

/**
 * Throws SystemError when `vm` is unsafe to run (lib/vm/safety.ts): one
 * line naming the first file and the command that fixes it.
 */
export function checkSafe(vm: Vm): void {
  const problems = vmProblems(vm);
  const first = problems[0];
  if (first === undefined) return;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more: see "vm doctor")` : "";
  throw new SystemError(`Not starting "${vm.name}": ${problemLine(first)}${more}`);
}

/**
 * `vm __run`: ends a stray svlogd, refuses an unsafe VM, one whose QEMU
 * already runs or whose forwarded host port is taken, plans the start,
 * consumes `once`, removes stale sockets, starts the companions (swtpm,
 * virtiofsd: ./companions.ts) and the post_qemu watcher, then
 * replaces this process with QEMU (cwd the VM directory, umask 077). `say` gets the
 * lines for the log (an unusable `wait` file, KVM falling back to TCG).
 * Returns only by throwing.
 */
export async function runVm(
  cfg: Config,
  vm: Vm,
  say: (line: string) => void = () => {},
): Promise<never> {
  const vmDir = vm.dir;
  for (const pid of strayLoggers(vmDir)) {
    if (signal(pid, "SIGTERM")) say(`ended svlogd (PID ${pid}) left by a killed runsv`);
  }
  checkSafe(vm);
  checkNoOtherQemu(vmDir);
  checkPortsFree(vm.name, vm.ports ?? []);
  if (vm.waitProblem !== undefined) say(vm.waitProblem);
  const plan = await planStart(cfg, vm);
  if (plan.accelNote !== undefined) say(plan.accelNote);
  if (plan.usesOnce) removeIfExists(join(vmDir, F.once));
  removeSockets(vmDir);
  Deno.umask(0o077);
  await startCompanions(vm, plan.companions, plan.env);
  if (plan.hooks.has("post_qemu")) await spawnPostQemu(vmDir, plan.env, Deno.pid);
  return execve(plan.qemu, plan.argv, plan.env, vmDir);
}
