/**
 * `vm image pull|list|import|rm`: the image cache in `$VMDIR/.images` and
 * the catalog (default/images.conf, with `$VMDIR/.default/images.conf` over
 * it). Progress goes to stderr (a redrawn line on a terminal, the final line
 * only on a pipe); listings and what was removed go to stdout. The cache
 * module (qemu-img, VM disks) is loaded only by list, import and rm, so a
 * pull stays small.
 * @module
 */

import {
  type CommandSpec,
  defineCommand,
  defineGroup,
  type Invocation,
  type OptionSpec,
  type OptionValues,
  type RowOptions,
} from "../core/command.ts";
import { print, printErr } from "../core/output.ts";
import { exclusive, optFlag, optString } from "../core/parse.ts";
import { type Progress, progress } from "../core/progress.ts";
import { type Config, httpTimeouts, loadConfig } from "../../lib/vm/config.ts";
import { loadCatalog } from "../../lib/images/catalog.ts";
import type { ImageRow } from "../../lib/images/cache.ts";
import { EXIT_INTERRUPTED } from "../../lib/images/download.ts";
import { pullImage, type PullOutcome, type PullRequest } from "../../lib/images/pull.ts";
import { checksumArg } from "../../lib/images/sums.ts";
import { summaryLine } from "../core/progress_line.ts";
import { formatBytes } from "../../lib/text/units.ts";
import { alignColumns } from "../core/format.ts";

/** Options choosing and checking an image, shared by `vm image pull` and `vm make --image`. */
const CHECK_OPTIONS = [
  { name: "sha256", value: "H", help: "the image's SHA-256 (overrides the catalog's SUMS file)" },
  { name: "sha512", value: "H", help: "the image's SHA-512 (overrides the catalog's SUMS file)" },
  {
    name: "arch",
    value: "A",
    complete: ["x86_64", "aarch64", "riscv64"],
    help: "QEMU arch A: the catalog entry's, and vm make's VM's (default:\n" +
      "VMCONF_QEMU_ARCH or the host's)",
  },
  {
    name: "insecure",
    help: "take a URL that has no checksum unverified (its SHA-256 is printed)",
  },
] as const satisfies readonly OptionSpec[];

/** The options `vm make` adds for `--image` (to be spread into its row's options). */
export const MAKE_IMAGE_OPTIONS = [
  {
    name: "image",
    value: "IMAGE",
    complete: "disk-image",
    help: "start from a cloud image: a catalog name, a URL or a disk image file\n" +
      "(pulled or imported into the cache if needed; the disk is a qcow2 overlay on it)",
  },
  { name: "copy", help: "with --image: a standalone copy of the image instead of an overlay" },
  ...CHECK_OPTIONS,
] as const satisfies readonly OptionSpec[];

/** The row of `vm image`: its subcommands are those of {@link image}. */
const IMAGE_ROW = {
  name: "image",
  summary: "cloud images: pull, list, import, rm (the cache in $VMDIR/.images)",
  args: [],
  help: [
    "The catalog is default/images.conf; add or replace entries in $VMDIR/.default/images.conf",
    "(or the file VMCONF_IMAGES names): [name] blocks of arch, kind (disk|iso), url, sums,",
    "file (a glob picking the dated file from the SUMS file), sha256/sha512.",
  ],
} as const satisfies CommandSpec;

/** The row of `vm image pull`. */
const IMAGE_PULL_ROW = {
  name: "pull",
  summary: "downloads an image into the cache (resumes, verifies its checksum)",
  args: [{ name: "<name|url>", kind: "image" }],
  options: CHECK_OPTIONS,
  help: [
    "A catalog name, or an https://, http:// or file:// URL (it needs --sha256/--sha512,",
    "or --insecure). Interrupted or failed downloads leave <name>.<ext>.part in",
    "$VMDIR/.images; pulling again resumes it. Exit 111 when the download or its",
    "checksum fails, or the server stops answering: VMCONF_HTTP_CONNECT_TIMEOUT,",
    "VMCONF_HTTP_HEADER_TIMEOUT and VMCONF_HTTP_IDLE_TIMEOUT set the waits (30, 30, 60 s).",
  ],
} as const satisfies CommandSpec;

/** The row of `vm image list`. */
const IMAGE_LIST_ROW = {
  name: "list",
  summary: "the catalog and the cache: NAME, ARCH, KIND, SIZE, CACHED, USED BY",
  args: [],
  options: [
    { name: "json", help: "a JSON array of objects instead of the table" },
    {
      name: "arch",
      value: "A",
      complete: ["x86_64", "aarch64"],
      help: "the catalog for QEMU arch A (default: VMCONF_QEMU_ARCH or the host's)",
    },
  ],
} as const satisfies CommandSpec;

/** The row of `vm image import`. */
const IMAGE_IMPORT_ROW = {
  name: "import",
  summary: "adds a local disk image (qcow2, raw, img) to the cache as a qcow2",
  args: [{ name: "<name>", kind: "none" }, { name: "<file>", kind: "file" }],
  help: ["A raw image is converted; a qcow2 is copied standalone (no backing file)."],
} as const satisfies CommandSpec;

/** The row of `vm image rm`. */
const IMAGE_RM_ROW = {
  name: "rm",
  summary: "removes an image from the cache (refused while a VM's disk is backed by it)",
  args: [{ name: "<name>", kind: "image" }],
} as const satisfies CommandSpec;

/** The QEMU arch images are for: --arch, else VMCONF_QEMU_ARCH, else the host's. */
export function imageArch(
  cfg: Config,
  inv: Invocation<{ readonly arch: string | undefined }>,
): string {
  const opt = optString(inv, "arch");
  return opt !== undefined && opt !== "" ? opt : cfg.qemuArch ?? Deno.build.arch;
}

/** The pull request of `vm image pull` (and `vm make --image`) from its options. */
export function pullRequest(
  cfg: Config,
  what: string,
  inv: Invocation<OptionValues<typeof CHECK_OPTIONS>>,
): PullRequest {
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
  const resumed = t.resumedAt > 0 ? `resumed at ${formatBytes(t.resumedAt, true)}; ` : "";
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

async function pull(inv: Invocation<RowOptions<typeof IMAGE_PULL_ROW>>): Promise<number> {
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
  return alignColumns([
    ["NAME", "ARCH", "KIND", "SIZE", "CACHED", "USED BY"],
    ...rows.map((r) => [
      r.name,
      r.arch || "-",
      r.kind,
      r.size === undefined ? "-" : formatBytes(r.size, true),
      r.cached === "partial" ? `partial ${r.percent === undefined ? "?" : r.percent}%` : r.cached,
      r.usedBy.length === 0 ? "-" : r.usedBy.join(","),
    ]),
  ]);
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

async function list(inv: Invocation<RowOptions<typeof IMAGE_LIST_ROW>>): Promise<number> {
  const cfg = loadConfig();
  const { imageRows } = await import("../../lib/images/cache.ts");
  const rows = await imageRows(cfg, loadCatalog(cfg), imageArch(cfg, inv));
  print(optFlag(inv, "json") ? JSON.stringify(imageJson(rows), null, 2) : formatImageTable(rows));
  return 0;
}

async function importCmd(inv: Invocation<RowOptions<typeof IMAGE_IMPORT_ROW>>): Promise<number> {
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

async function rm(inv: Invocation<RowOptions<typeof IMAGE_RM_ROW>>): Promise<number> {
  const cfg = loadConfig();
  const { removeImage } = await import("../../lib/images/cache.ts");
  for (const path of await removeImage(cfg, inv.args[0] ?? "")) print(`removed "${path}"`);
  return 0;
}

/** `vm image pull|list|import|rm`. */
export const image = defineGroup(IMAGE_ROW, [
  defineCommand(IMAGE_PULL_ROW, { run: pull }),
  defineCommand(IMAGE_LIST_ROW, { run: list }),
  defineCommand(IMAGE_IMPORT_ROW, { run: importCmd }),
  defineCommand(IMAGE_RM_ROW, { run: rm }),
]);
