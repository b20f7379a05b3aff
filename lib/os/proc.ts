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

/**
 * Whether `e` is what reading `/proc/<pid>/…` throws when the process is
 * gone or not ours to read: ENOENT (it was reaped), ESRCH (it is exiting:
 * Deno gives that as a plain Error whose message ends "(os error 3)…") or
 * EACCES. Pure.
 */
export function isGoneError(e: unknown): boolean {
  if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied) return true;
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  if (code === "ESRCH" || code === "ENOENT" || code === "EACCES") return true;
  return /\(os error (2|3|13)\)/.test(e.message);
}

/**
 * Runs `read` (a read of `/proc/<pid>/…`); undefined when the process is
 * gone or not ours to read ({@link isGoneError}). Other errors are thrown.
 * Every read of another process's `/proc` entry goes through here.
 */
export function procRead<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (e) {
    if (isGoneError(e)) return undefined;
    throw e;
  }
}

/** The stat of `pid`, or undefined when it is gone. Reads `/proc/<pid>/stat`. */
export function procStat(pid: number): ProcStat | undefined {
  return procRead(() => parseStat(Deno.readTextFileSync(`/proc/${pid}/stat`)));
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
  return procRead(() => Deno.readLinkSync(`/proc/${pid}/cwd`));
}

/** The executable of `pid` (`/proc/<pid>/exe`), or undefined (gone, a zombie, not ours). */
export function exeOf(pid: number): string | undefined {
  return procRead(() => Deno.readLinkSync(`/proc/${pid}/exe`));
}

/** Splits a /proc cmdline into its arguments. Pure. */
export function splitCmdline(raw: string): string[] {
  const parts = raw.split("\0");
  if (parts.at(-1) === "") parts.pop();
  return parts;
}

/** The argv of `pid` (empty for a zombie), or undefined when it is gone. */
export function cmdlineOf(pid: number): string[] | undefined {
  return procRead(() => splitCmdline(Deno.readTextFileSync(`/proc/${pid}/cmdline`)));
}

/** Parses an environment block (`K=V\0K=V\0…`, as /proc/<pid>/environ and `env -0`). Pure. */
export function parseEnviron(raw: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of raw.split("\0")) {
    const i = entry.indexOf("=");
    if (i > 0) env[entry.slice(0, i)] = entry.slice(i + 1);
  }
  return env;
}

/** The environment `pid` started with, or undefined (gone, not ours). */
export function environOf(pid: number): Record<string, string> | undefined {
  return procRead(() => parseEnviron(Deno.readTextFileSync(`/proc/${pid}/environ`)));
}

/** The value of `name` in the environment `pid` started with, or undefined. */
export function envOf(pid: number, name: string): string | undefined {
  const env = environOf(pid);
  return env !== undefined && Object.hasOwn(env, name) ? env[name] : undefined;
}

/** Sends `sig` to `pid` (a negative pid: its process group); false when it is gone. */
export function signal(pid: number, sig: Deno.Signal): boolean {
  try {
    Deno.kill(pid, sig);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || (e as { code?: string }).code === "ESRCH") {
      return false;
    }
    throw e;
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
    const text = procRead(() => Deno.readTextFileSync(`/proc/${pid}/stat`));
    // The name first: the whole line is parsed only for the few processes named `comm`.
    if (text === undefined || text.slice(text.indexOf("(") + 1, text.lastIndexOf(")")) !== comm) {
      continue;
    }
    const st = parseStat(text);
    if (st === undefined || st.state === "Z") continue;
    const cwd = cwdOf(pid);
    if (cwd === undefined) continue;
    const inside = opts.children
      ? cwd.startsWith(dir + "/") && !cwd.slice(dir.length + 1).includes("/")
      : cwd === dir;
    if (inside) out.push({ ...st, cwd });
  }
  return out;
}

/**
 * The process holding socket `inode` (its PID and name), or undefined when
 * none visible to us does. Reads `/proc/<pid>/fd` of every process.
 */
export function socketHolder(inode: number): { pid: number; comm: string } | undefined {
  const link = `socket:[${inode}]`;
  for (const pid of allPids()) {
    const fds = procRead(() => [...Deno.readDirSync(`/proc/${pid}/fd`)]) ?? [];
    const held = fds.some((fd) =>
      procRead(() => Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`)) === link
    );
    if (held) return { pid, comm: procStat(pid)?.comm ?? "?" };
  }
  return undefined;
}
