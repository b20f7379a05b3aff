/**
 * Which processes belong to a VM, and to a VMDIR: its QEMU (the process
 * whose working directory is the VM's, as `vm __run` starts it), a QEMU left
 * without runsv, the `control/t` (`vm __stop`) a runsv waits for, the runsv
 * of each VM, and the runsvdir supervising VMDIR with its environment. The
 * one home of these questions; the /proc reading itself is lib/os/proc.ts.
 * It also finds a VM's companion processes (swtpm, virtiofsd…: lib/service/companions.ts),
 * by their working directory and their mark in the environment.
 * Reads `/proc/<pid>/{stat,cwd,exe,cmdline,environ}`, `<vm>/supervise/{ok,status}`.
 * @module
 */

import { basename, join, resolve } from "../os/path.ts";
import { CheckFailedError, VmRunningError } from "../errors.ts";
import { realPathOrUndefined } from "../os/fs.ts";
import { hasEntry, pathExists } from "../os/lookup.ts";
import {
  allPids,
  cmdlineOf,
  cwdOf,
  descendants,
  environOf,
  envOf,
  exeOf,
  findByCwd,
  procStat,
} from "../os/proc.ts";
import { isSupervised, readStatus, type Status } from "../runit/status.ts";
import { F, SOCKETS } from "../layout.ts";

/**
 * Whether a program path or argv[0] names QEMU (`qemu-system-x86_64`, `qemu-kvm`…), not
 * `qemu-storage-daemon` (a companion of `vm backup`: lib/qemu/storage_daemon.ts). Pure.
 */
export function isQemuProgram(path: string): boolean {
  const name = basename(path);
  return /^qemu(-|$)/.test(name) && name !== "qemu-storage-daemon";
}

/** Whether process `pid` is a QEMU (by its executable, or argv[0] when that is not readable). */
export function isQemuPid(pid: number): boolean {
  if (pid <= 0) return false;
  return isQemuProgram(exeOf(pid) ?? "") || isQemuProgram(cmdlineOf(pid)?.[0] ?? "");
}

/**
 * PIDs of the QEMU processes whose working directory is `dir` (as `vm
 * __run` starts QEMU), supervised or not. Reads `/proc`.
 */
export function qemuPidsIn(dir: string): number[] {
  const want = realPathOrUndefined(dir);
  if (want === undefined) return [];
  return allPids().filter((pid) => {
    if (pid === Deno.pid || cwdOf(pid) !== want) return false;
    // A zombie has neither; a process not ours to read has no exe: argv[0] decides.
    const exe = exeOf(pid) ?? "";
    const argv0 = cmdlineOf(pid)?.[0] ?? "";
    return isQemuProgram(exe) || isQemuProgram(argv0);
  });
}

/**
 * The PID of a QEMU that still works in `vmDir` with its sockets there (its
 * runsv was killed, and runsvdir started a new one), or undefined. A stop
 * removes the sockets (__finish): without any, no QEMU of ours runs here, and
 * the scan of /proc (a few ms) is skipped. Reads `/proc`.
 */
export function orphanQemu(vmDir: string): number | undefined {
  if (!SOCKETS.some((s) => pathExists(join(vmDir, s)))) return undefined;
  return qemuPidsIn(vmDir)[0];
}

/**
 * The PID of a QEMU working in `dir` that runsv does not run: its runsv was
 * killed (`status` is `supervise/status`, possibly left by that dead runsv).
 * While a live runsv reports `run`, that is the VM's QEMU (`__run` never
 * starts a second one), so nothing is scanned; nor when no socket of QEMU is
 * left in `supervise/`. Reads `/proc`; opens `supervise/ok`.
 */
export function strayQemu(dir: string, status: Status | undefined): number | undefined {
  if (status?.state === "run" && isSupervised(dir)) return undefined;
  // One look for a listing: QEMU always has its QMP socket (__run gives -qmp).
  if (!hasEntry(join(dir, F.supervise), basename(F.qmp))) return undefined;
  return qemuPidsIn(dir)[0];
}

/** Why a VM counts as running, or undefined when it is stopped. */
export type Running =
  | { how: "runsv"; state: "run" | "finish"; pid: number }
  | { how: "unsupervised"; pid: number };

/** Whether the VM in `dir` runs (under runsv, or a QEMU in its directory); undefined when stopped. */
export function running(dir: string): Running | undefined {
  if (isSupervised(dir)) {
    const st = readStatus(dir);
    if (st !== undefined && st.state !== "down") {
      return { how: "runsv", state: st.state, pid: st.pid };
    }
  }
  const pid = qemuPidsIn(dir)[0];
  return pid === undefined ? undefined : { how: "unsupervised", pid };
}

/**
 * Throws unless the VM `name` in `dir` is stopped: VmRunningError (exit 1)
 * when runsv runs it, CheckFailedError naming the PID of a QEMU that runs in
 * its directory without runsv. `what` completes "stop it first … to <what>".
 */
export function checkStopped(name: string, dir: string, what: string): void {
  const r = running(dir);
  if (r === undefined) return;
  if (r.how === "runsv") throw new VmRunningError(name, what);
  throw new CheckFailedError(
    `VM "${name}" is running: a QEMU not started by runsv (PID ${r.pid}) works in ` +
      `"${dir}"; quit it first to ${what}`,
  );
}

/** The `control/t` processes (`vm __stop`) runsv `runsv` is blocked in. Reads /proc. */
export function controlProcesses(runsv: number): number[] {
  return descendants(runsv).filter((p) => cmdlineOf(p)?.includes("__stop") === true);
}

/** A runsv of a VMDIR. */
export interface Runsv {
  pid: number;
  ppid: number;
  /** The VM's name (its directory's). */
  vm: string;
}

/** The live runsv processes supervising a directory of `vmdir` (a realpath). Reads `/proc`. */
export function findRunsv(vmdir: string): Runsv[] {
  return findByCwd("runsv", vmdir, { children: true }).map((p) => ({
    pid: p.pid,
    ppid: p.ppid,
    vm: basename(p.cwd),
  }));
}

/** The directory a runsvdir command line supervises (`runsvdir [-P] dir [log]`). Pure. */
export function runsvdirTarget(argv: readonly string[]): string | undefined {
  if (basename(argv[0] ?? "") !== "runsvdir") return undefined;
  return argv.slice(1).find((a) => a !== "-P");
}

/**
 * PIDs of the `runsvdir` processes that supervise `vmdir` (normally 0 or 1).
 * Reads `/proc/<pid>/cmdline` and `/proc/<pid>/cwd` of every process.
 */
export function findRunsvdir(vmdir: string): number[] {
  const want = realPathOrUndefined(vmdir);
  if (want === undefined) return [];
  return allPids().filter((pid) => {
    const target = runsvdirTarget(cmdlineOf(pid) ?? []);
    const cwd = target === undefined ? undefined : cwdOf(pid);
    return cwd !== undefined && realPathOrUndefined(resolve(cwd, target ?? "")) === want;
  });
}

/** The environment `__run` gets, and where it came from. */
export interface RunEnv {
  env: Record<string, string>;
  /** PID of the runsvdir whose environment it is; undefined when it is ours. */
  runsvdir?: number;
}

/**
 * The environment `vm __run` of the VM in `realDir` (a physical path) sees:
 * runsv passes runsvdir's on unchanged, so that of the runsvdir supervising
 * `vmdir` when readable, else `own`; PWD is `realDir` either way (as `sh`
 * sets it for the run script). Reads `/proc/<runsvdir>/environ`.
 */
export function runsvdirEnv(vmdir: string, realDir: string, own: Record<string, string>): RunEnv {
  for (const pid of findRunsvdir(vmdir)) {
    const env = environOf(pid);
    if (env !== undefined) return { env: { ...env, PWD: realDir }, runsvdir: pid };
  }
  return { env: { ...own, PWD: realDir } };
}

/**
 * The svlogd processes logging for the VM in `vmDir` that no runsv owns any
 * more (their runsv was killed): while one holds `log/main`'s lock, the
 * svlogd of the VM's new runsv cannot log. Reads `/proc`.
 */
export function strayLoggers(vmDir: string): number[] {
  const logDir = realPathOrUndefined(join(vmDir, F.log));
  if (logDir === undefined) return [];
  return findByCwd("svlogd", logDir, { children: false })
    .filter((p) => procStat(p.ppid)?.comm !== "runsv")
    .map((p) => p.pid);
}

/**
 * The process groups of the hooks (`$0` `<argv0><hook>`, see lib/vm/hooks.ts)
 * working in `vmDir`: each hook shell leads its own group. Reads `/proc`.
 */
export function hookGroups(vmDir: string, argv0: string): number[] {
  const want = realPathOrUndefined(vmDir);
  if (want === undefined) return [];
  return findByCwd("sh", want, { children: false })
    .filter((p) => p.pgrp === p.pid && (cmdlineOf(p.pid)?.[3] ?? "").startsWith(argv0))
    .map((p) => p.pid);
}

/**
 * The environment variable that marks a companion process of a VM (lib/service/companions.ts
 * starts each with `VM_COMPANION=<what it is>`, in the VM's directory).
 */
export const COMPANION_ENV = "VM_COMPANION";

/** A companion process of a VM: what it is (its mark) and where it works. */
export interface CompanionProc {
  pid: number;
  /** What it is, from its mark: "swtpm", "virtiofsd for share data", … */
  name: string;
  /** Its working directory: the VM's (a physical path). */
  dir: string;
}

/**
 * The live companion processes working in `dir` (a VM directory), or, with `children`, in any
 * directory directly inside `dir` (a VMDIR). Zombies are left out. Reads `/proc`.
 */
export function companionsIn(dir: string, opts: { children: boolean }): CompanionProc[] {
  const want = realPathOrUndefined(dir);
  if (want === undefined) return [];
  const out: CompanionProc[] = [];
  for (const pid of allPids()) {
    if (pid === Deno.pid) continue;
    const cwd = cwdOf(pid);
    if (cwd === undefined) continue;
    const inside = opts.children
      ? cwd.startsWith(want + "/") && !cwd.slice(want.length + 1).includes("/")
      : cwd === want;
    if (!inside) continue;
    const name = envOf(pid, COMPANION_ENV);
    if (name === undefined) continue;
    const st = procStat(pid);
    if (st === undefined || st.state === "Z") continue;
    out.push({ pid, name, dir: cwd });
  }
  return out;
}
