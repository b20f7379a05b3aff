/**
 * Backups of a running QEMU's disks over QMP: the block nodes of its drives
 * (`query-block`), the backup targets (`blockdev-add` of a qcow2 file,
 * `backing: null`: the job writes only what it copies), one `transaction`
 * that starts a `blockdev-backup` job per disk together with a new
 * persistent dirty bitmap (so the next incremental starts exactly at this
 * backup point), the jobs' progress and end (`query-jobs`), their cancel,
 * and the removal of what a killed `vm backup` left in QEMU (its jobs and
 * target nodes, named with its PID). Talks to QEMU through a QmpClient.
 * @module
 */

import { CheckFailedError } from "../errors.ts";
import { resolve } from "../os/path.ts";
import type { QmpClient } from "./qmp.ts";

/** A dirty bitmap of a block node. */
export interface Bitmap {
  name: string;
  persistent: boolean;
  /** QEMU found it not saved cleanly (a crash): useless for an incremental backup. */
  inconsistent: boolean;
}

/** A drive of the running QEMU. */
export interface BlockNode {
  /** Its format node's name (auto-generated `#block123` for `-drive`). */
  node: string;
  /** Its image file, absolute (relative names are QEMU's working directory's: the VM's). */
  file: string;
  /** Its format driver (`qcow2`, `raw`). */
  format: string;
  /** Its virtual size, bytes. */
  size: number;
  bitmaps: Bitmap[];
}

const obj = (v: unknown): Record<string, unknown> =>
  typeof v === "object" && v !== null ? v as Record<string, unknown> : {};

/** The drives with a medium in QMP `query-block`'s reply `reply`; relative files against `cwd`. Pure. */
export function parseBlockNodes(reply: unknown, cwd: string): BlockNode[] {
  const out: BlockNode[] = [];
  for (const dev of Array.isArray(reply) ? reply : []) {
    const ins = obj(obj(dev).inserted);
    const file = obj(ins.image).filename;
    if (typeof ins["node-name"] !== "string" || typeof file !== "string") continue;
    const bitmaps = (Array.isArray(ins["dirty-bitmaps"]) ? ins["dirty-bitmaps"] : []).map((b) => {
      const o = obj(b);
      return {
        name: String(o.name ?? ""),
        persistent: o.persistent === true,
        inconsistent: o.inconsistent === true,
      };
    });
    out.push({
      node: ins["node-name"],
      file: resolve(cwd, file),
      format: String(ins.drv ?? ""),
      size: Number(obj(ins.image)["virtual-size"] ?? 0),
      bitmaps,
    });
  }
  return out;
}

/** The running QEMU's drives (QMP `query-block`); relative files against `cwd`, the VM's directory. */
export async function blockNodes(qmp: QmpClient, cwd: string): Promise<BlockNode[]> {
  return parseBlockNodes(await qmp.execute("query-block"), cwd);
}

/** Job ids and target node names of process `pid`: `vmbackup-<pid>-<i>`, `vmbackup-<pid>-t<i>`. */
export function jobId(i: number, pid: number = Deno.pid): string {
  return `vmbackup-${pid}-${i}`;
}

/** The target node of job `i` of process `pid`. Pure. */
export function targetNode(i: number, pid: number = Deno.pid): string {
  return `vmbackup-${pid}-t${i}`;
}

/** The PID in a job id or node name of {@link jobId}/{@link targetNode}, or undefined. Pure. */
export function ownerPid(name: string): number | undefined {
  const m = /^vmbackup-([0-9]+)-t?[0-9]+$/.exec(name);
  return m === null ? undefined : Number(m[1]);
}

/** Opens the qcow2 file `path` (made already) as node `node`, without its backing file. */
export async function addTarget(qmp: QmpClient, node: string, path: string): Promise<void> {
  await qmp.execute("blockdev-add", {
    driver: "qcow2",
    "node-name": node,
    file: { driver: "file", filename: path },
    backing: null,
  });
}

/** Closes target node `node` (no error when it is gone). */
export async function removeTarget(qmp: QmpClient, node: string): Promise<void> {
  try {
    await qmp.execute("blockdev-del", { "node-name": node });
  } catch (e) {
    if (!(e instanceof CheckFailedError)) throw e;
  }
}

/** One disk's job. */
export interface BackupJob {
  id: string;
  /** The disk's format node. */
  node: string;
  /** The target node. */
  target: string;
  /** Incremental: the bitmap of the last backup (left as it is). Undefined: full. */
  since?: string;
  /** The persistent bitmap to start on the disk at the backup point (qcow2 disks). */
  newBitmap?: string;
}

/**
 * The chunk a job copies at a time. QEMU 7.2's default (1 MiB buffers,
 * allocated and freed per chunk) made a full backup ~6x slower than
 * `qemu-img convert` here, CPU-bound; 256 KiB matched it (bench/backup.ts).
 */
export const MAX_CHUNK = 256 * 1024;

/**
 * The `transaction` actions that start `jobs` at one point in time; `tuned`:
 * with `x-perf` (an experimental option a later QEMU may drop). Pure.
 */
export function transactionActions(
  jobs: readonly BackupJob[],
  tuned = true,
): Record<string, unknown>[] {
  const actions: Record<string, unknown>[] = [];
  for (const j of jobs) {
    if (j.newBitmap !== undefined) {
      actions.push({
        type: "block-dirty-bitmap-add",
        data: { node: j.node, name: j.newBitmap, persistent: true },
      });
    }
    const data: Record<string, unknown> = {
      "job-id": j.id,
      device: j.node,
      target: j.target,
      sync: j.since === undefined ? "full" : "bitmap",
      "auto-dismiss": false,
      "auto-finalize": true,
    };
    if (tuned) data["x-perf"] = { "max-chunk": MAX_CHUNK };
    if (j.since !== undefined) {
      data.bitmap = j.since;
      data["bitmap-mode"] = "never";
    }
    actions.push({ type: "blockdev-backup", data });
  }
  return actions;
}

/**
 * Starts `jobs` in one transaction (all or none), at one backup point; once
 * more without `x-perf` when this QEMU does not know it.
 */
export async function startJobs(qmp: QmpClient, jobs: readonly BackupJob[]): Promise<void> {
  // Not "grouped": QEMU 7.2 refuses it beside block-dirty-bitmap-add; each job's end is checked.
  try {
    await qmp.execute("transaction", { actions: transactionActions(jobs) });
  } catch (e) {
    if (!(e instanceof CheckFailedError && e.message.includes("x-perf"))) throw e;
    await qmp.execute("transaction", { actions: transactionActions(jobs, false) });
  }
}

/** A job as `query-jobs` tells it. */
interface JobState {
  id: string;
  status: string;
  done: number;
  total: number;
  error?: string;
}

async function queryJobs(qmp: QmpClient): Promise<JobState[]> {
  const reply = await qmp.execute("query-jobs");
  return (Array.isArray(reply) ? reply : []).map((j) => {
    const o = obj(j);
    const s: JobState = {
      id: String(o.id ?? ""),
      status: String(o.status ?? ""),
      done: Number(o["current-progress"] ?? 0),
      total: Number(o["total-progress"] ?? 0),
    };
    if (typeof o.error === "string") s.error = o.error;
    return s;
  });
}

/** Job states after which a job does nothing more. */
const ENDED = new Set(["concluded", "null"]);

/**
 * Runs `fn` on a QMP connection: one kept open, or (a long job) one made for
 * the call and closed after it, so that `vm stop` reaches QEMU meanwhile.
 */
export type QmpSession = <T>(fn: (qmp: QmpClient) => Promise<T>) => Promise<T>;

/** The session of an open connection `qmp`. */
export function onConnection(qmp: QmpClient): QmpSession {
  return (fn) => fn(qmp);
}

/**
 * How often a job's state is asked, ms: at first often (a small incremental ends at once), then
 * less, but at about the time the jobs' pace says they end (no quarter of a second lost at the
 * end of every backup).
 */
const POLL_FIRST_MS = 20;
const POLL_MS = 250;

/**
 * The pause before the next look at jobs that went from `before` to `done` bytes of `total` in
 * `ms`, after a pause of `last`: growing up to POLL_MS, shorter when the end is nearer. Pure.
 */
export function nextPause(
  last: number,
  before: number,
  done: number,
  total: number,
  ms: number,
): number {
  const grown = Math.min(POLL_MS, last * 2);
  if (total > 0 && done >= total) return POLL_FIRST_MS; // copied: finishing (the target's flush)
  if (done <= before || ms <= 0) return grown;
  const left = (total - done) / ((done - before) / ms);
  return Math.max(POLL_FIRST_MS, Math.min(grown, Math.ceil(left) + 5));
}

/**
 * Waits until every job of `ids` has ended, calling `onProgress` with the
 * bytes done and to do of them all; when `signal` aborts, cancels them and
 * waits for that. Returns the errors of the jobs that failed (QEMU's
 * words), none when all succeeded. The jobs stay (dismiss them). Each look
 * is a call of `session`.
 */
export async function waitJobs(
  session: QmpSession,
  ids: readonly string[],
  onProgress?: (done: number, total: number) => void,
  signal?: AbortSignal,
): Promise<string[]> {
  let cancelled = false;
  let pause = POLL_FIRST_MS;
  let before = 0;
  let at = performance.now();
  for (;;) {
    const mine = (await session(queryJobs)).filter((j) => ids.includes(j.id));
    const done = mine.reduce((n, j) => n + j.done, 0);
    const total = mine.reduce((n, j) => n + j.total, 0);
    onProgress?.(done, total);
    if (mine.every((j) => ENDED.has(j.status))) {
      const errors = mine.filter((j) => j.error !== undefined).map((j) => `${j.error}`);
      if (mine.length < ids.length) errors.push("a backup job vanished");
      return errors;
    }
    if (signal?.aborted && !cancelled) {
      cancelled = true;
      const running = mine.filter((j) => !ENDED.has(j.status)).map((j) => j.id);
      await session((qmp) => cancelJobs(qmp, running));
    }
    const now = performance.now();
    pause = cancelled ? POLL_FIRST_MS : nextPause(pause, before, done, total, now - at);
    before = done;
    at = now;
    await new Promise((r) => setTimeout(r, pause));
  }
}

/** Cancels the jobs `ids` (those already over are skipped). */
export async function cancelJobs(qmp: QmpClient, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    try {
      await qmp.execute("job-cancel", { id });
    } catch (e) {
      if (!(e instanceof CheckFailedError)) throw e;
    }
  }
}

/** Dismisses the ended jobs `ids` (no error for one that is gone). */
export async function dismissJobs(qmp: QmpClient, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    try {
      await qmp.execute("job-dismiss", { id });
    } catch (e) {
      if (!(e instanceof CheckFailedError)) throw e;
    }
  }
}

/** Removes bitmap `name` of node `node` (no error when it is gone). */
export async function removeBitmap(qmp: QmpClient, node: string, name: string): Promise<void> {
  try {
    await qmp.execute("block-dirty-bitmap-remove", { node, name });
  } catch (e) {
    if (!(e instanceof CheckFailedError)) throw e;
  }
}

/**
 * Ends what a `vm backup` that is gone (`alive(pid)` false) left in QEMU:
 * its jobs (cancelled, waited for, dismissed), then its target nodes.
 * Returns how many jobs and nodes were removed.
 */
export async function removeStale(
  qmp: QmpClient,
  alive: (pid: number) => boolean,
): Promise<number> {
  const dead = (name: string) => {
    const pid = ownerPid(name);
    return pid !== undefined && !alive(pid);
  };
  const jobs = (await queryJobs(qmp)).filter((j) => dead(j.id));
  const ids = jobs.map((j) => j.id);
  if (ids.length > 0) {
    await waitJobs(onConnection(qmp), ids, undefined, AbortSignal.abort());
    await dismissJobs(qmp, ids);
  }
  const nodes = await qmp.execute("query-named-block-nodes", { flat: true });
  const names = (Array.isArray(nodes) ? nodes : [])
    .map((n) => String(obj(n)["node-name"] ?? ""))
    .filter(dead);
  for (const n of names) await removeTarget(qmp, n);
  return ids.length + names.length;
}
