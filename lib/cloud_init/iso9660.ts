/**
 * An ISO 9660 (ECMA-119) image writer for small flat volumes: the NoCloud
 * seed (`cidata` with `meta-data`, `user-data`, `network-config`). Pure:
 * files in, bytes out.
 *
 * Layout (2048-byte sectors): 16 empty sectors (system area), the primary
 * volume descriptor, a Joliet supplementary descriptor, the terminator, the
 * L and M path tables of both, the Rock Ridge continuation area, the root
 * directory of the primary tree, that of the Joliet tree, then each file's
 * data. The primary tree carries ISO level-1 names (`USER_DAT.;1`) and Rock
 * Ridge (SUSP `SP`/`CE`/`ER`, RRIP 1.09 `RR`/`PX`/`NM`) with the real names;
 * the Joliet tree carries them in UCS-2. Linux mounts it with the Rock Ridge
 * names, other systems read the Joliet ones. One root directory, no subdirectories.
 * Level: bottom (lib/cloud_init, no I/O).
 * @module
 */

import { UsageError } from "../errors.ts";
import { concatBytes } from "../text/bytes.ts";

/** One file of the volume. */
export interface IsoFile {
  /** Its name: letters, digits, `.`, `_`, `-`; at most 64 bytes. */
  name: string;
  data: Uint8Array;
}

/** Bytes per logical sector. */
export const SECTOR = 2048;

const FIRST_VD = 16;
const RRIP_ID = "RRIP_1991A";
const RRIP_DES =
  "THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
const RRIP_SRC = "PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER " +
  "IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.";
const FILE_MODE = 0o100444;
const DIR_MODE = 0o40555;
const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;

const ascii = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0) & 0x7f));

function ucs2(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    out[2 * i] = s.charCodeAt(i) >> 8;
    out[2 * i + 1] = s.charCodeAt(i) & 0xff;
  }
  return out;
}

/** `n` as the given width of bytes: little-endian, big-endian or both ("733"). */
function num(n: number, width: 2 | 4, order: "le" | "be" | "both"): Uint8Array {
  const one = (le: boolean) => {
    const b = new Uint8Array(width);
    const v = new DataView(b.buffer);
    if (width === 2) v.setUint16(0, n, le);
    else v.setUint32(0, n, le);
    return b;
  };
  if (order === "both") return concatBytes([one(true), one(false)]);
  return one(order === "le");
}

/** A SUSP entry: signature, length, version 1, body. */
function susp(sig: string, body: Uint8Array): Uint8Array {
  return concatBytes([ascii(sig), new Uint8Array([body.length + 4, 1]), body]);
}

const px = (mode: number, links: number) =>
  susp("PX", concatBytes([mode, links, 0, 0].map((n) => num(n, 4, "both"))));
const rr = (flags: number) => susp("RR", new Uint8Array([flags]));

/** The ER entry naming RRIP 1.09 (goes in the continuation area). */
function erEntry(): Uint8Array {
  const [id, des, src] = [RRIP_ID, RRIP_DES, RRIP_SRC].map(ascii) as [
    Uint8Array,
    Uint8Array,
    Uint8Array,
  ];
  return susp(
    "ER",
    concatBytes([new Uint8Array([id.length, des.length, src.length, 1]), id, des, src]),
  );
}

/** The 7-byte date of a directory record (UTC). */
function recordDate(d: Date): Uint8Array {
  return new Uint8Array([
    d.getUTCFullYear() - 1900,
    d.getUTCMonth() + 1,
    d.getUTCDate(),
    d.getUTCHours(),
    d.getUTCMinutes(),
    d.getUTCSeconds(),
    0,
  ]);
}

/** The 17-byte date of a volume descriptor (UTC), "YYYYMMDDHHMMSScc" and offset 0. */
function volumeDate(d: Date | undefined): Uint8Array {
  if (d === undefined) return concatBytes([ascii("0".repeat(16)), new Uint8Array([0])]);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const s = `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}` +
    `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}00`;
  return concatBytes([ascii(s), new Uint8Array([0])]);
}

interface RecordSpec {
  id: Uint8Array;
  extent: number;
  size: number;
  dir: boolean;
  su?: Uint8Array;
}

/** One directory record (padded to even length). */
function dirRecord(r: RecordSpec, date: Date): Uint8Array {
  const pad = r.id.length % 2 === 0 ? 1 : 0;
  const su = r.su ?? new Uint8Array(0);
  const len = 33 + r.id.length + pad + su.length;
  const out = new Uint8Array(len + (len % 2));
  out[0] = out.length;
  out.set(num(r.extent, 4, "both"), 2);
  out.set(num(r.size, 4, "both"), 10);
  out.set(recordDate(date), 18);
  out[25] = r.dir ? 2 : 0;
  out.set(num(1, 2, "both"), 28);
  out[32] = r.id.length;
  out.set(r.id, 33);
  out.set(su, 33 + r.id.length + pad);
  return out;
}

/** Records packed into sectors so that none crosses a sector boundary. */
function packSectors(records: readonly Uint8Array[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  let used = 0;
  for (const r of records) {
    if (used + r.length > SECTOR) {
      chunks.push(new Uint8Array(SECTOR - used));
      used = 0;
    }
    chunks.push(r);
    used += r.length;
  }
  if (used > 0) chunks.push(new Uint8Array(SECTOR - used));
  return concatBytes(chunks);
}

/**
 * The ISO level-1 (8.3, upper case, `;1`) identifiers of `names`, unique:
 * a clash gets a number at the end of its base name. Pure.
 */
export function isoNames(names: readonly string[]): string[] {
  const taken = new Set<string>();
  return names.map((name) => {
    const clean = (s: string) => s.toUpperCase().replace(/[^A-Z0-9_]/g, "_");
    const dot = name.lastIndexOf(".");
    const base = clean(dot > 0 ? name.slice(0, dot) : name).slice(0, 8) || "_";
    const ext = clean(dot > 0 ? name.slice(dot + 1) : "").slice(0, 3);
    let candidate = `${base}.${ext}`;
    for (let i = 1; taken.has(candidate); i++) {
      candidate = `${base.slice(0, 8 - String(i).length)}${i}.${ext}`;
    }
    taken.add(candidate);
    return candidate + ";1";
  });
}

/** A primary (type 1) or Joliet (type 2) volume descriptor. */
function volumeDescriptor(
  joliet: boolean,
  o: {
    volumeId: string;
    sectors: number;
    ptSize: number;
    ptL: number;
    root: Uint8Array;
    date: Date;
  },
): Uint8Array {
  const b = new Uint8Array(SECTOR);
  const text = (s: string, at: number, width: number) => {
    const bytes = joliet ? ucs2(s.padEnd(width / 2).slice(0, width / 2)) : ascii(s.padEnd(width));
    b.set(bytes.subarray(0, width), at);
  };
  b[0] = joliet ? 2 : 1;
  b.set(ascii("CD001"), 1);
  b[6] = 1;
  text("LINUX", 8, 32);
  text(o.volumeId, 40, 32);
  b.set(num(o.sectors, 4, "both"), 80);
  if (joliet) b.set(ascii("%/E"), 88);
  b.set(num(1, 2, "both"), 120);
  b.set(num(1, 2, "both"), 124);
  b.set(num(SECTOR, 2, "both"), 128);
  b.set(num(o.ptSize, 4, "both"), 132);
  b.set(num(o.ptL, 4, "le"), 140);
  b.set(num(o.ptL + 1, 4, "be"), 148);
  b.set(o.root, 156);
  for (const [at, width] of [[190, 128], [318, 128], [446, 128], [702, 37], [739, 37], [776, 37]]) {
    text("", at ?? 0, width ?? 0);
  }
  text("VM CLOUD-INIT SEED", 574, 128);
  b.set(volumeDate(o.date), 813);
  b.set(volumeDate(o.date), 830);
  b.set(volumeDate(undefined), 847);
  b.set(volumeDate(undefined), 864);
  b[881] = 1;
  return b;
}

/** The L (little-endian) and M path tables of a volume with only a root directory. */
function pathTables(rootExtent: number): Uint8Array {
  const entry = (order: "le" | "be") =>
    concatBytes([
      new Uint8Array([1, 0]),
      num(rootExtent, 4, order),
      num(1, 2, order),
      new Uint8Array([0, 0]),
    ]);
  const sector = (e: Uint8Array) => concatBytes([e, new Uint8Array(SECTOR - e.length)]);
  return concatBytes([sector(entry("le")), sector(entry("be"))]);
}

/** Checks the volume id (1–32 bytes of printable ASCII) and file names. Throws UsageError. */
function checkInput(volumeId: string, files: readonly IsoFile[]): void {
  if (!/^[\x21-\x7e]{1,32}$/.test(volumeId)) {
    throw new UsageError(`ISO volume id "${volumeId}" must be 1 to 32 printable ASCII characters`);
  }
  const seen = new Set<string>();
  for (const f of files) {
    if (!NAME_RE.test(f.name) || f.name === "." || f.name === "..") {
      throw new UsageError(
        `ISO file name "${f.name}" is not allowed; use letters, digits, ".", "_", "-"`,
      );
    }
    if (seen.has(f.name)) throw new UsageError(`ISO file name "${f.name}" is given twice`);
    seen.add(f.name);
  }
}

/** Sorted by identifier bytes, as ECMA-119 9.3 wants. */
function byId<T extends { id: Uint8Array }>(xs: T[]): T[] {
  const cmp = (a: Uint8Array, b: Uint8Array) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
    }
    return a.length - b.length;
  };
  return [...xs].sort((x, y) => cmp(x.id, y.id));
}

/** Where each part of the image goes, in sectors. */
interface Layout {
  /** First sector of the primary tree's root directory, and its sector count. */
  pRoot: number;
  pSectors: number;
  jRoot: number;
  jSectors: number;
  /** First sector of each file's data (of the padding for an empty file). */
  extents: number[];
  /** Sectors in the volume. */
  total: number;
}

/** Sectors of padding at the end, as mkisofs adds (readers that read ahead; xorriso wants > 32). */
const PAD_SECTORS = 150;
const PT_L = FIRST_VD + 3;
const CE_AT = PT_L + 4;
const ROOT_ID = new Uint8Array([0]);

/** The Rock Ridge fields of "." and "..": in the root's ".", SP first and the CE to the ER. */
function dotSu(first: boolean): Uint8Array {
  const ce = concatBytes([CE_AT, 0, erEntry().length].map((n) => num(n, 4, "both")));
  const sp = first ? [susp("SP", new Uint8Array([0xbe, 0xef, 0])), susp("CE", ce)] : [];
  return concatBytes([...sp, rr(RR_PX), px(DIR_MODE, 2)]);
}

const RR_PX = 1;
const RR_NM = 8;

/** The records of one tree's root directory, sorted: ".", "..", then the files. */
function rootRecords(files: readonly IsoFile[], joliet: boolean, l: Layout): RecordSpec[] {
  const root = joliet ? l.jRoot : l.pRoot;
  const size = (joliet ? l.jSectors : l.pSectors) * SECTOR;
  const dots: RecordSpec[] = [0, 1].map((i) => ({
    id: new Uint8Array([i]),
    extent: root,
    size,
    dir: true,
    ...(joliet ? {} : { su: dotSu(i === 0) }),
  }));
  const iso = isoNames(files.map((f) => f.name));
  const enc = new TextEncoder();
  const entries = files.map((f, i) => ({
    id: joliet ? ucs2(f.name) : ascii(iso[i] ?? ""),
    extent: l.extents[i] ?? 0,
    size: f.data.length,
    dir: false,
    ...(joliet ? {} : {
      su: concatBytes([
        rr(RR_PX | RR_NM),
        px(FILE_MODE, 1),
        susp("NM", concatBytes([ROOT_ID, enc.encode(f.name)])),
      ]),
    }),
  }));
  return [...dots, ...byId(entries)];
}

function directory(files: readonly IsoFile[], joliet: boolean, l: Layout, date: Date): Uint8Array {
  return packSectors(rootRecords(files, joliet, l).map((r) => dirRecord(r, date)));
}

/** Places everything; directory sizes do not depend on extents, so they are measured first. */
function layout(files: readonly IsoFile[]): Layout {
  const l: Layout = { pRoot: 0, pSectors: 0, jRoot: 0, jSectors: 0, extents: [], total: 0 };
  const epoch = new Date(0);
  l.pSectors = directory(files, false, l, epoch).length / SECTOR;
  l.jSectors = directory(files, true, l, epoch).length / SECTOR;
  l.pRoot = CE_AT + 1;
  l.jRoot = l.pRoot + l.pSectors;
  let next = l.jRoot + l.jSectors;
  const dataEnd = next + files.reduce((n, f) => n + Math.ceil(f.data.length / SECTOR), 0);
  l.extents = files.map((f) => {
    const at = f.data.length === 0 ? dataEnd : next;
    next += Math.ceil(f.data.length / SECTOR);
    return at;
  });
  l.total = dataEnd + PAD_SECTORS;
  return l;
}

/**
 * Builds an ISO 9660 image with volume id `volumeId` holding `files` in its
 * root directory (Rock Ridge and Joliet names as given). `date` stamps the
 * volume and every record (default: now). Pure but for the default date.
 * Throws UsageError for a bad volume id or file name.
 */
export function buildIso(
  volumeId: string,
  files: readonly IsoFile[],
  date = new Date(),
): Uint8Array {
  checkInput(volumeId, files);
  const l = layout(files);
  const out = new Uint8Array(l.total * SECTOR);
  const put = (sector: number, bytes: Uint8Array) => out.set(bytes, sector * SECTOR);
  const vd = (joliet: boolean) => {
    const [root, sectors] = joliet ? [l.jRoot, l.jSectors] : [l.pRoot, l.pSectors];
    const record = dirRecord(
      { id: ROOT_ID, extent: root, size: sectors * SECTOR, dir: true },
      date,
    );
    const ptL = joliet ? PT_L + 2 : PT_L;
    return volumeDescriptor(joliet, {
      volumeId,
      sectors: l.total,
      ptSize: 10,
      ptL,
      root: record,
      date,
    });
  };
  put(FIRST_VD, vd(false));
  put(FIRST_VD + 1, vd(true));
  put(FIRST_VD + 2, concatBytes([new Uint8Array([255]), ascii("CD001"), new Uint8Array([1])]));
  put(PT_L, pathTables(l.pRoot));
  put(PT_L + 2, pathTables(l.jRoot));
  put(CE_AT, erEntry());
  put(l.pRoot, directory(files, false, l, date));
  put(l.jRoot, directory(files, true, l, date));
  files.forEach((f, i) => put(l.extents[i] ?? 0, f.data));
  return out;
}
