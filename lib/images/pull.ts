/**
 * `vm image pull`: from a catalog name or a URL to a verified image in the
 * cache. A catalog entry's checksum comes from its SUMS file (fetched first;
 * a "latest" entry's `file` glob picks the dated file it stands for there)
 * or is pinned in the entry; a URL needs `--sha256`/`--sha512`, or
 * `--insecure` (then its SHA-256 is reported, not checked). An image already
 * cached is not fetched again. A downloaded image that names other files
 * (a backing or data file: lib/qemu/image_check.ts) or is not raw or qcow2
 * (an ISO: raw) is refused and removed. Reads the network (SUMS file,
 * image); writes `$VMDIR/.images/` (see download.ts); runs `qemu-img info`.
 * @module
 */

import { SystemError, UsageError } from "../errors.ts";
import {
  type CatalogEntry,
  checkImageName,
  findEntry,
  type ImageKind,
  isImageUrl,
} from "./catalog.ts";
import {
  InterruptedError,
  isAbort,
  readPartMeta,
  transfer,
  type TransferEvents,
  type TransferResult,
} from "./download.ts";
import { fetchText } from "./source.ts";
import type { NetOptions } from "./http.ts";
import { removeIfExists } from "../os/fs.ts";
import { removeMeta } from "./meta.ts";
import { inspectImage, SAFE_FORMATS, UnsafeImageError } from "../qemu/image_check.ts";
import { type Checksum, findSum, newestMatch, parseSums } from "./sums.ts";
import {
  ensureImagesDir,
  extFor,
  findStored,
  imageFile,
  nameFromFile,
  urlFileName,
} from "./store.ts";

/** What to pull. */
export interface PullRequest {
  /** A catalog name or an https://, http:// or file:// URL. */
  what: string;
  /** The QEMU arch to pick a catalog entry for. */
  arch: string;
  /** A checksum given by hand: it overrides the catalog's. */
  checksum?: Checksum;
  /** Allows a URL without checksum. */
  insecure?: boolean;
  /** For a URL: the name to cache it under (default: its file name without extension). */
  name?: string;
}

/** A pull worked out: where from, where to, what checksum. */
export interface PullPlan {
  name: string;
  kind: ImageKind;
  url: string;
  /** The cached image's path. */
  path: string;
  expected?: Checksum;
}

/** What a pull did. */
export interface PullOutcome {
  name: string;
  kind: ImageKind;
  path: string;
  /** It was in the cache already: nothing was fetched. */
  cached: boolean;
  /** The download, when there was one. */
  transfer?: TransferResult;
  /** Where it came from (undefined when cached). */
  url?: string;
}

/** Whether a pull argument is a URL rather than a name (it has a scheme and `//`). Pure. */
export function isUrlArg(what: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(what);
}

/** The directory URL of `url` (up to and with its last `/`). Pure. */
export function dirUrl(url: string): string {
  return url.slice(0, url.lastIndexOf("/") + 1);
}

/**
 * Works out the file and checksum of `entry`: the pinned checksum, else the
 * SUMS file's line for the file (the newest `file` match, or the URL's own
 * file name). Fetches the SUMS file. Throws SystemError when it does not list
 * the file.
 */
async function planEntry(
  entry: CatalogEntry,
  dir: string,
  req: PullRequest,
  net: NetOptions,
): Promise<PullPlan> {
  let url = entry.url;
  let expected = req.checksum ?? entry.checksum;
  if (entry.sums !== undefined && (expected === undefined || entry.file !== undefined)) {
    const sums = parseSums(await fetchText(entry.sums, net));
    const chosen = entry.file === undefined ? undefined : newestMatch(sums, entry.file);
    if (chosen !== undefined) url = dirUrl(url) + chosen;
    const file = urlFileName(url);
    if (file === "") {
      throw new SystemError(
        `"${entry.sums}" lists no file matching "${entry.file}"; the catalog entry ` +
          `"${entry.name}" (${entry.origin}) is out of date: fix it in your images.conf`,
      );
    }
    const sum = findSum(sums, file);
    if (sum === undefined && expected === undefined) {
      throw new SystemError(
        `"${entry.sums}" does not list "${file}"; the catalog entry "${entry.name}" ` +
          `(${entry.origin}) is out of date: fix it in your images.conf`,
      );
    }
    expected ??= sum;
  }
  checkVerifiable(url, expected, req.insecure === true);
  const path = imageFile(dir, entry.name, extFor(urlFileName(url), entry.kind));
  const plan: PullPlan = { name: entry.name, kind: entry.kind, url, path };
  if (expected !== undefined) plan.expected = { algo: expected.algo, hex: expected.hex };
  return plan;
}

/** Throws UsageError when there is no checksum and no --insecure. Pure. */
function checkVerifiable(url: string, expected: Checksum | undefined, insecure: boolean): void {
  if (expected === undefined && !insecure) {
    throw new UsageError(
      `No checksum to verify "${url}" against; give --sha256 H or --sha512 H (from its ` +
        "publisher), or --insecure to take it unverified",
    );
  }
}

/** Works out a URL pull: name from the file name (or `req.name`), kind from the extension. Pure. */
export function planUrl(req: PullRequest, dir: string): PullPlan {
  if (!isImageUrl(req.what)) {
    throw new UsageError(`"${req.what}" is not an https://, http:// or file:// URL`);
  }
  const file = urlFileName(req.what);
  const kind: ImageKind = /\.iso$/i.test(file) ? "iso" : "disk";
  const name = checkImageName(req.name ?? nameFromFile(file || "image"));
  checkVerifiable(req.what, req.checksum, req.insecure === true);
  const plan: PullPlan = {
    name,
    kind,
    url: req.what,
    path: imageFile(dir, name, extFor(file, kind)),
  };
  if (req.checksum !== undefined) plan.expected = req.checksum;
  return plan;
}

/** The kind of a cached file by its extension. Pure. */
function kindOfPath(path: string): ImageKind {
  return path.endsWith(".iso") ? "iso" : "disk";
}

/**
 * Refuses the image just pulled to `path` when it names other files or has
 * another format than raw or qcow2 (an ISO: raw), removing it from the
 * cache. Throws UnsafeImageError. Runs `qemu-img info`.
 */
async function checkPulled(path: string, kind: ImageKind): Promise<void> {
  try {
    await inspectImage(path, { backingDirs: [], formats: kind === "iso" ? ["raw"] : SAFE_FORMATS });
  } catch (e) {
    if (!(e instanceof UnsafeImageError)) throw e;
    removeIfExists(path);
    removeMeta(path);
    throw new UnsafeImageError(e.file, `${e.problem}; it was removed from the cache`);
  }
}

/**
 * Pulls `req` into `$VMDIR/.images` (see the module doc); an image of that
 * name already cached is returned as it is. Throws UsageError for an unknown
 * name or a URL without checksum, UnsafeImageError (a UsageError) for an
 * image that names other files, SystemError for a failed download or
 * checksum, InterruptedError when `ev.signal` aborts.
 */
export async function pullImage(
  vmdir: string,
  catalog: readonly CatalogEntry[],
  req: PullRequest,
  ev: TransferEvents = {},
): Promise<PullOutcome> {
  const dir = ensureImagesDir(vmdir);
  const url = isUrlArg(req.what);
  const entry = url ? undefined : findEntry(catalog, req.what, req.arch);
  if (!url && entry === undefined) {
    throw new UsageError(
      `No image "${req.what}" in the catalog; "vm image list" shows the names, or give a URL`,
    );
  }
  const name = entry?.name ?? planUrl(req, dir).name;
  const stored = findStored(dir, name);
  if (stored !== undefined) {
    const had = readPartMeta(stored.path)?.arch;
    if (entry !== undefined && entry.arch !== "" && had !== undefined && had !== entry.arch) {
      throw new UsageError(
        `Image "${name}" is cached for arch "${had}", not "${entry.arch}"; remove it first ` +
          `with "vm image rm ${name}"`,
      );
    }
    return { name, kind: kindOfPath(stored.path), path: stored.path, cached: true };
  }
  let plan: PullPlan;
  try {
    plan = entry === undefined ? planUrl(req, dir) : await planEntry(entry, dir, req, ev);
  } catch (e) {
    throw isAbort(e) ? new InterruptedError() : e;
  }
  const t = await transfer(
    {
      url: plan.url,
      path: plan.path,
      ...(plan.expected ? { expected: plan.expected } : {}),
      ...(entry?.arch ? { arch: entry.arch } : {}),
    },
    ev,
  );
  await checkPulled(plan.path, plan.kind);
  return { name, kind: plan.kind, path: plan.path, cached: false, transfer: t, url: plan.url };
}
