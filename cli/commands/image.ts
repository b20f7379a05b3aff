/**
 * `vm image pull|list|import|rm`: the image cache in `$VMDIR/.images` and
 * the catalog (default/images.conf, with `$VMDIR/.default/images.conf` over
 * it). Progress goes to stderr (a redrawn line on a terminal, the final line
 * only on a pipe); listings and what was removed go to stdout. The cache
 * module (qemu-img, VM disks) is loaded only by list, import and rm, so a
 * pull stays small.
 * @module
 */

import type { CommandModule, Invocation } from "../core/command.ts";
import { print, printErr } from "../core/output.ts";
import { exclusive, optFlag, optString } from "../core/parse.ts";
import { type Progress, progress } from "../core/progress.ts";
import { type Config, httpTimeouts, loadConfig } from "../../lib/vm/config.ts";
import { loadCatalog } from "../../lib/images/catalog.ts";
import type { ImageRow } from "../../lib/images/cache.ts";
import { EXIT_INTERRUPTED } from "../../lib/images/download.ts";
import { pullImage, type PullOutcome, type PullRequest } from "../../lib/images/pull.ts";
import { checksumArg } from "../../lib/images/sums.ts";
import { fmtBytes, summaryLine } from "../../lib/text/progress.ts";

/** The QEMU arch images are for: --arch, else VMCONF_QEMU_ARCH, else the host's. */
export function imageArch(cfg: Config, inv: Invocation): string {
  const opt = optString(inv, "arch");
  return opt !== undefined && opt !== "" ? opt : cfg.qemuArch ?? Deno.build.arch;
}

/** The pull request of `vm image pull` (and `vm make --image`) from its options. */
export function pullRequest(cfg: Config, what: string, inv: Invocation): PullRequest {
  exclusive(inv, "sha256", "sha512");
  const req: PullRequest = { what, arch: imageArch(cfg, inv) };
  const sha256 = optString(inv, "sha256");
  const sha512 = optString(inv, "sha512");
  if (sha256 !== undefined) req.checksum = checksumArg("sha256", sha256);
  if (sha512 !== undefined) req.checksum = checksumArg("sha512", sha512);
  if (optFlag(inv, "insecure")) req.insecure = true;
  return req;
}

/** The signals that interrupt a pull: Ctrl-C, and a polite kill. */
const STOP_SIGNALS: readonly Deno.Signal[] = ["SIGINT", "SIGTERM"];

/**
 * Runs `work` with an AbortSignal that Ctrl-C (SIGINT) or SIGTERM aborts;
 * should the work not stop within 2 s of it (waiting for another pull's
 * lock cannot be cancelled), exits 130 at once: only the `.part` is left
 * either way, and none that is empty.
 */
export async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctl = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const onStop = () => {
    ctl.abort();
    timer ??= setTimeout(() => {
      printErr("\nvm: fatal: Interrupted");
      Deno.exit(EXIT_INTERRUPTED);
    }, 2000);
  };
  for (const s of STOP_SIGNALS) Deno.addSignalListener(s, onStop);
  try {
    return await work(ctl.signal);
  } finally {
    for (const s of STOP_SIGNALS) Deno.removeSignalListener(s, onStop);
    clearTimeout(timer);
  }
}

/** The final line of a pull. Pure. */
export function pullSummary(o: PullOutcome, ms: number): string {
  const t = o.transfer;
  if (o.cached || t === undefined) return `${o.name}: already in the cache: ${o.path}`;
  if (t.byOther) return `${o.name}: downloaded by another pull: ${o.path}`;
  const algo = t.checksum.algo.toUpperCase();
  const check = t.verified
    ? `${algo} verified`
    : `not verified (--insecure); its ${algo} is ${t.checksum.hex}`;
  const resumed = t.resumedAt > 0 ? `resumed at ${fmtBytes(t.resumedAt)}; ` : "";
  return summaryLine(o.name, t.fetched, ms, `${resumed}${check}; ${o.path}`);
}

/** Runs a progress-reporting job, clearing the bar when it fails. */
async function withProgress<T>(label: string, job: (p: Progress) => Promise<T>): Promise<T> {
  const p = progress(label);
  try {
    return await job(p);
  } catch (e) {
    p.clear();
    throw e;
  }
}

async function pull(inv: Invocation): Promise<number> {
  const what = inv.args[0] ?? "";
  const cfg = loadConfig();
  const req = pullRequest(cfg, what, inv);
  const catalog = loadCatalog(cfg);
  const t0 = performance.now();
  await withProgress(what, async (p) => {
    const o = await interruptible((signal) =>
      pullImage(cfg.vmdir, catalog, req, {
        signal,
        timeouts: httpTimeouts(cfg.env),
        onProgress: p.update,
        onNotice: (text) => p.notice(`vm: ${text}`),
      })
    );
    p.finish(pullSummary(o, performance.now() - t0));
  });
  return 0;
}

/** `vm image list` as a table. Pure. */
export function formatImageTable(rows: readonly ImageRow[]): string {
  const table = [
    ["NAME", "ARCH", "KIND", "SIZE", "CACHED", "USED BY"],
    ...rows.map((r) => [
      r.name,
      r.arch || "-",
      r.kind,
      r.size === undefined ? "-" : fmtBytes(r.size),
      r.cached === "partial" ? `partial ${r.percent === undefined ? "?" : r.percent}%` : r.cached,
      r.usedBy.length === 0 ? "-" : r.usedBy.join(","),
    ]),
  ];
  const widths = table[0]?.map((_, i) => Math.max(...table.map((r) => (r[i] ?? "").length))) ?? [];
  return table.map((r) =>
    r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ")
  )
    .join("\n");
}

/** `vm image list --json` objects. Pure. */
export function imageJson(rows: readonly ImageRow[]): unknown[] {
  return rows.map((r) => ({
    name: r.name,
    arch: r.arch,
    kind: r.kind,
    size_bytes: r.size ?? null,
    cached: r.cached,
    percent: r.cached === "yes" ? 100 : r.percent ?? (r.cached === "no" ? 0 : null),
    used_by: r.usedBy,
    path: r.path ?? null,
    in_catalog: r.inCatalog,
  }));
}

async function list(inv: Invocation): Promise<number> {
  const cfg = loadConfig();
  const { imageRows } = await import("../../lib/images/cache.ts");
  const rows = await imageRows(cfg, loadCatalog(cfg), imageArch(cfg, inv));
  print(optFlag(inv, "json") ? JSON.stringify(imageJson(rows), null, 2) : formatImageTable(rows));
  return 0;
}

async function importCmd(inv: Invocation): Promise<number> {
  const [name = "", file = ""] = inv.args;
  const cfg = loadConfig();
  const { importImage } = await import("../../lib/images/cache.ts");
  const t0 = performance.now();
  await withProgress(name, async (p) => {
    const r = await importImage(cfg, name, file, p.update);
    const size = Deno.statSync(r.path).size;
    p.finish(summaryLine(name, size, performance.now() - t0, `imported from ${r.from}: ${r.path}`));
  });
  return 0;
}

async function rm(inv: Invocation): Promise<number> {
  const cfg = loadConfig();
  const { removeImage } = await import("../../lib/images/cache.ts");
  for (const path of await removeImage(cfg, inv.args[0] ?? "")) print(`removed "${path}"`);
  return 0;
}

/** `vm image pull <name|url>`. */
export const pullCommand: CommandModule = { run: pull };
/** `vm image list`. */
export const listCommand: CommandModule = { run: list };
/** `vm image import <name> <file>`. */
export const importCommand: CommandModule = { run: importCmd };
/** `vm image rm <name>`. */
export const rmCommand: CommandModule = { run: rm };
