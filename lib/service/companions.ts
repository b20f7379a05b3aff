/**
 * Companion processes of a VM: the programs QEMU needs beside it (swtpm for a TPM, virtiofsd
 * for a shared folder), the one mechanism for all of them. `vm __run` starts them just before
 * it becomes QEMU: each in the VM's directory, under the VM's environment (umask 077, stdin
 * null, its output in the VM's log like QEMU's), marked with `VM_COMPANION=<what>` so that it
 * can be found again (lib/qemu/processes.ts `companionsIn`); each is waited for, bounded, until
 * it has made the socket QEMU connects to. After the exec they are QEMU's children, and they
 * live exactly as long as QEMU's connection to them: each is started so that it ends when that
 * connection closes (swtpm `--terminate`; virtiofsd serves one session), whether QEMU stops, crashes
 * or is killed with SIGKILL. Nothing else stays resident.
 *
 * Two nets under that rule: `__run` does not start a VM while a companion of its last run is still
 * there (it waits a moment for one that is ending, then refuses, naming it), and `vm __finish`
 * ends those a QEMU left without ever connecting (a QEMU that failed at its start). `vm doctor`
 * reports any left all the same (`strayCompanions`). The same net keeps a VM from starting while
 * `vm backup` has its disks open in a qemu-storage-daemon (lib/qemu/storage_daemon.ts).
 * @module
 */

import { SystemError } from "../errors.ts";
import type { Env } from "../vm/config.ts";
import type { Vm } from "../vm/inspect.ts";
import { removeIfExists } from "../os/fs.ts";
import { pathExists } from "../os/lookup.ts";
import { basename, relative } from "../os/path.ts";
import { pollUntil } from "../os/poll.ts";
import { isAlive, signal } from "../os/proc.ts";
import { daemonOwner } from "../qemu/storage_daemon.ts";
import { COMPANION_ENV, type CompanionProc, companionsIn, qemuPidsIn } from "../qemu/processes.ts";

/** A companion process to start for a VM. */
export interface CompanionSpec {
  /** What it is, for messages and its mark: "swtpm", "virtiofsd for share data". */
  name: string;
  /** Its command line; `argv[0]` an absolute path. */
  argv: string[];
  /** The path (absolute; a socket in the VM's `supervise/`) it creates once it is ready. */
  ready: string;
}

/** How long a companion may take to become ready (virtiofsd: about a second). */
export const READY_TIMEOUT_MS = 10_000;
/** How long `__run` waits for a companion of the last run that is ending by itself. */
export const STALE_WAIT_MS = 2_000;
/** How long an ended companion has after SIGTERM before it gets SIGKILL. */
const TERM_GRACE_MS = 2_000;

/** "swtpm (PID 12)", "swtpm (PID 12), virtiofsd for share a (PID 13)". Pure. */
export function companionList(procs: readonly { name: string; pid: number }[]): string {
  return procs.map((p) => `${p.name} (PID ${p.pid})`).join(", ");
}

/**
 * Starts the companions `specs` of `vm` (see the module) with `env` and returns their PIDs once
 * each has made its `ready` path. Throws SystemError, after ending every one it started, when a
 * companion of an earlier run is still there, when a program cannot be started, exits, or is not
 * ready within `timeoutMs`.
 */
export async function startCompanions(
  vm: Vm,
  specs: readonly CompanionSpec[],
  env: Env,
  timeoutMs = READY_TIMEOUT_MS,
  staleWaitMs = STALE_WAIT_MS,
): Promise<number[]> {
  // Before any start, companions or not: a backup's qemu-storage-daemon holds the disks.
  await refuseStale(vm, staleWaitMs);
  if (specs.length === 0) return [];
  const started: { spec: CompanionSpec; child: Deno.ChildProcess; exit?: Deno.CommandStatus }[] =
    [];
  try {
    for (const spec of specs) {
      removeIfExists(spec.ready);
      const [program, ...args] = spec.argv;
      let child: Deno.ChildProcess;
      try {
        child = new Deno.Command(program ?? "", {
          args,
          cwd: vm.dir,
          env: { ...env, [COMPANION_ENV]: spec.name },
          clearEnv: true,
          stdin: "null",
          stdout: "inherit",
          stderr: "inherit",
        }).spawn();
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied)) {
          throw e;
        }
        throw new SystemError(
          `cannot start ${spec.name} of "${vm.name}": ${program} ${
            e instanceof Deno.errors.NotFound ? "does not exist" : "may not be run"
          }`,
        );
      }
      const entry: (typeof started)[number] = { spec, child };
      child.status.then((s) => entry.exit = s);
      started.push(entry);
    }
    const ready = () => started.every((s) => pathExists(s.spec.ready));
    const ended = () => started.some((s) => s.exit !== undefined);
    await pollUntil(() => ended() || ready(), timeoutMs, 20);
    if (!ready() || ended()) {
      const bad = started.find((s) => s.exit !== undefined) ??
        started.find((s) => !pathExists(s.spec.ready));
      throw new SystemError(failure(vm, bad?.spec, bad?.exit, timeoutMs));
    }
    return started.map((s) => s.child.pid);
  } catch (e) {
    await endAll(started.filter((s) => s.exit === undefined).map((s) => s.child.pid));
    throw e;
  }
}

/** The line for a companion that did not become ready. Pure. */
function failure(
  vm: Vm,
  spec: CompanionSpec | undefined,
  exit: Deno.CommandStatus | undefined,
  timeoutMs: number,
): string {
  const what = spec?.name ?? "a companion";
  const where = spec === undefined ? "its socket" : relativeTo(vm.dir, spec.ready);
  const why = exit === undefined
    ? `did not make ${where} within ${Math.round(timeoutMs / 1000)} s`
    : `exited (${exit.signal === null ? `code ${exit.code}` : exit.signal}) before making ${where}`;
  return `not starting "${vm.name}": ${what} ${why}; its own message is in "vm log ${vm.name}"`;
}

/** `path` relative to `dir` when inside it, else as is. Pure. */
function relativeTo(dir: string, path: string): string {
  const rel = relative(dir, path);
  return rel.startsWith("..") ? path : rel;
}

/**
 * Waits up to `waitMs` for the companions of the VM's last run to end by themselves (QEMU just
 * closed their connection); throws SystemError naming any still there.
 */
async function refuseStale(vm: Vm, waitMs: number): Promise<void> {
  let stale = companionsIn(vm.dir, { children: false });
  if (stale.length === 0) return;
  await pollUntil(() => (stale = companionsIn(vm.dir, { children: false })).length === 0, waitMs);
  if (stale.length === 0) return;
  const backup = stale.map((p) => daemonOwner(p.name)).find((o) => o !== undefined && isAlive(o));
  if (backup !== undefined) {
    throw new SystemError(
      `not starting "${vm.name}": a "vm backup" (PID ${backup}) has its disks open; ` +
        `start it once the backup is over`,
    );
  }
  throw new SystemError(
    `not starting "${vm.name}": ${companionList(stale)} of its last run still ${
      stale.length === 1 ? "runs" : "run"
    } without QEMU; end ${stale.length === 1 ? "it" : "them"} with "kill ${
      stale.map((p) => p.pid).join(" ")
    }"`,
  );
}

/**
 * Whether `p` is the qemu-storage-daemon of a `vm backup` still running (lib/qemu/
 * storage_daemon.ts): no stray, and not for `__finish` to end (the backup ends it).
 */
function backupInProgress(p: CompanionProc): boolean {
  const owner = daemonOwner(p.name);
  return owner !== undefined && isAlive(owner);
}

/** SIGTERM to each of `pids`, then SIGKILL to any still alive after a grace. */
async function endAll(pids: readonly number[]): Promise<void> {
  const live = pids.filter((pid) => signal(pid, "SIGTERM"));
  if (live.length === 0) return;
  const gone = await pollUntil(() => live.every((pid) => !isAlive(pid)), TERM_GRACE_MS, 20);
  if (!gone) { for (const pid of live) signal(pid, "SIGKILL"); }
}

/**
 * Ends the companions still working in `vmDir` once its QEMU is gone (`vm __finish`): those of
 * a QEMU that never connected to them. Does nothing while a QEMU works there (an orphan whose
 * runsv was killed still needs them). Returns those it ended. Reads `/proc`.
 */
export async function endCompanions(vmDir: string): Promise<CompanionProc[]> {
  const procs = companionsIn(vmDir, { children: false }).filter((p) => !backupInProgress(p));
  if (procs.length === 0 || qemuPidsIn(vmDir).length > 0) return [];
  await endAll(procs.map((p) => p.pid));
  return procs;
}

/**
 * The companions in `vmdir`'s VM directories whose VM has no QEMU running: strays for `vm
 * doctor`. Reads `/proc`.
 */
export function strayCompanions(vmdir: string): CompanionProc[] {
  const withQemu = new Map<string, boolean>();
  return companionsIn(vmdir, { children: true }).filter((p) => {
    if (backupInProgress(p)) return false;
    let has = withQemu.get(p.dir);
    if (has === undefined) withQemu.set(p.dir, has = qemuPidsIn(p.dir).length > 0);
    return !has;
  });
}

/** The VM a companion belongs to (its directory's name). Pure. */
export function companionVm(p: CompanionProc): string {
  return basename(p.dir);
}
