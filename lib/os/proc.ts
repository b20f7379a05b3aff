/**
 * The process table, read from `/proc` the way `ps` does: a process's parent,
 * name, state and start time (`/proc/<pid>/stat`), its working directory
 * (`/proc/<pid>/cwd`) and one variable of its environment
 * (`/proc/<pid>/environ`). Used by `vm daemon` to find the runsv and runsvdir
 * processes of a VMDIR. Reads `/proc/*`; never signals anything.
 * @module
 */

/** What `/proc/<pid>/stat` tells about a process. */
export interface ProcStat {
  pid: number;
  /** The executable's name, at most 15 bytes (the kernel's `comm`). */
  comm: string;
  /** R, S, D, Z (zombie), T… */
  state: string;
  ppid: number;
  /** Process group and session. */
  pgrp: number;
  session: number;
  /** Start time in clock ticks after boot: with the PID, names a process uniquely. */
  startTime: number;
}

/** Parses the text of `/proc/<pid>/stat`. Pure; undefined when it is not one. */
export function parseStat(text: string): ProcStat | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  const f = text.slice(close + 2).trim().split(" ");
  // Fields from the state on: state(3) ppid(4) pgrp(5) session(6) … starttime(22).
  const [state, ppid, pgrp, session] = [f[0], Number(f[1]), Number(f[2]), Number(f[3])];
  const startTime = Number(f[19]);
  if (state === undefined || ![pid, ppid, pgrp, session, startTime].every(Number.isInteger)) {
    return undefined;
  }
  return { pid, comm: text.slice(open + 1, close), state, ppid, pgrp, session, startTime };
}

/** The stat of `pid`, or undefined when it is gone. Reads `/proc/<pid>/stat`. */
export function procStat(pid: number): ProcStat | undefined {
  try {
    return parseStat(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return undefined;
  }
}

/** Whether `pid` exists and is not a zombie (and, given `startTime`, is still that process). */
export function isAlive(pid: number, startTime?: number): boolean {
  const st = procStat(pid);
  if (st === undefined || st.state === "Z") return false;
  return startTime === undefined || st.startTime === startTime;
}

/** Every PID in `/proc`. */
export function allPids(): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (/^[0-9]+$/.test(e.name)) pids.push(Number(e.name));
  }
  return pids;
}

/** Every descendant of `root` (not `root`), parents before their children. Reads `/proc/<pid>/stat` of every process. */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const pid of allPids()) {
    const pp = procStat(pid)?.ppid;
    if (pp !== undefined) children.set(pp, [...(children.get(pp) ?? []), pid]);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

/** The working directory of `pid`, or undefined (gone, a zombie, or not ours). */
export function cwdOf(pid: number): string | undefined {
  try {
    return Deno.readLinkSync(`/proc/${pid}/cwd`);
  } catch {
    return undefined;
  }
}

/** The value of `name` in an environ block (`K=V\0K=V\0…`). Pure. */
export function environValue(raw: string, name: string): string | undefined {
  for (const entry of raw.split("\0")) {
    if (entry.startsWith(name + "=")) return entry.slice(name.length + 1);
  }
  return undefined;
}

/** The value of `name` in the environment `pid` started with, or undefined. */
export function envOf(pid: number, name: string): string | undefined {
  try {
    return environValue(Deno.readTextFileSync(`/proc/${pid}/environ`), name);
  } catch {
    return undefined;
  }
}

/** A live process and its working directory. */
export interface ProcInDir extends ProcStat {
  cwd: string;
}

/**
 * Live processes named `comm` (e.g. "runsv") whose working directory is
 * `dir` itself or directly inside it, when `children` is true (`dir` is a
 * realpath). Reads `/proc/*`.
 */
export function findByCwd(comm: string, dir: string, opts: { children: boolean }): ProcInDir[] {
  const out: ProcInDir[] = [];
  for (const pid of allPids()) {
    const st = procStat(pid);
    if (st === undefined || st.comm !== comm || st.state === "Z") continue;
    const cwd = cwdOf(pid);
    if (cwd === undefined) continue;
    const inside = opts.children
      ? cwd.startsWith(dir + "/") && !cwd.slice(dir.length + 1).includes("/")
      : cwd === dir;
    if (inside) out.push({ ...st, cwd });
  }
  return out;
}
