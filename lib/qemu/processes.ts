/**
 * Whether a VM is running, for the commands that need it stopped (destroy,
 * rename, clone, disk, snapshot): a runsv supervises it and its state is not
 * down (run, or finish while QEMU's exit is handled), or a QEMU process
 * works in its directory without runsv. Reads `<vm>/supervise/{ok,status}`
 * and `/proc/<pid>/{cwd,exe,cmdline}`.
 * @module
 */

import { basename } from "../os/path.ts";
import { CheckFailedError, VmRunningError } from "../errors.ts";
import { isSupervised, readStatus, splitCmdline } from "../runit/status.ts";
import { allPids, cwdOf } from "../os/proc.ts";
import { realPathOrUndefined } from "../os/fs.ts";

/** Whether a program path or argv[0] names QEMU (`qemu-system-x86_64`, `qemu-kvm`…). Pure. */
export function isQemuProgram(path: string): boolean {
  return /^qemu(-|$)/.test(basename(path));
}

/**
 * PIDs of the QEMU processes whose working directory is `dir` (as `vm
 * __run` starts QEMU), supervised or not. Reads `/proc`.
 */
export function qemuPidsIn(dir: string): number[] {
  const want = realPathOrUndefined(dir);
  if (want === undefined) return [];
  const pids: number[] = [];
  for (const pid of allPids()) {
    if (pid === Deno.pid || cwdOf(pid) !== want) continue;
    try {
      let exe = "";
      try {
        exe = Deno.readLinkSync(`/proc/${pid}/exe`);
      } catch { /* a zombie, or not ours: argv[0] decides */ }
      const argv0 = splitCmdline(Deno.readTextFileSync(`/proc/${pid}/cmdline`))[0] ?? "";
      if (argv0 === "" && exe === "") continue; // a zombie
      if (isQemuProgram(exe) || isQemuProgram(argv0)) pids.push(pid);
    } catch {
      // The process went away or is not ours to read.
    }
  }
  return pids;
}

/** Why a VM counts as running, or undefined when it is stopped. */
export type Running =
  | { how: "runsv"; state: "run" | "finish"; pid: number }
  | { how: "unsupervised"; pid: number };

/** Whether the VM in `dir` runs (see the module doc); undefined when it is stopped. */
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
