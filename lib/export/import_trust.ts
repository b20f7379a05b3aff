/**
 * What an imported VM brings that reaches beyond its guest, kept disabled
 * until the user trusts it (`vm import … --trust`): a `hooks` file (shell
 * run as the user on every start and by `vm args`), a `shares` file (host
 * folders the guest would read and write; renamed `shares.untrusted`) and QEMU arguments that
 * act on the host: `-incoming` (a migration stream replaces the guest),
 * `-plugin` (a shared library loaded into QEMU), `-sandbox off`, a monitor
 * that is no unix socket (`-monitor tcp:…`, `-mon`), a program QEMU runs
 * (`script=`, `downscript=`, `helper=`) and, for an archive, any host path
 * outside the VM directory (`-drive file=/etc/shadow`, `-serial
 * file:/etc/passwd`, `mem-path=`…; `-append` is the guest's). Disabled
 * means: the hooks file renamed `hooks.untrusted`; a template line holding
 * such an argument commented out (`# untrusted: …`), or, where that would
 * take more than the argument with it, the template renamed to
 * `.<name>.untrusted` (dotfiles are never read). Every finding is listed.
 * Pure but for distrustTree, which reads and rewrites an assembled VM.
 * Area lib/export, at the level of actions.
 * @module
 */

import { join, resolve } from "../os/path.ts";
import { exists, isInsideDir, writeFileAtomic } from "../os/fs.ts";
import { ParseError } from "../errors.ts";
import { F } from "../layout.ts";
import { readTemplateText, templateNames } from "../vm/templates.ts";
import type { Env } from "../vm/config.ts";
import { parseOpts } from "../qemu/opt_list.ts";
import { groupOptions, type OptionGroup, shown, type VmArg } from "./qemu_options.ts";
import { templateArgs } from "./vm_model.ts";
import { type Attachment, formatAttachments, readAttachments } from "../vm/network.ts";

/** One thing an import brought that reaches the host. */
export interface Untrusted {
  /** Where: `hooks`, or `templates/x:3`. */
  at: string;
  /** The argument as written ("" for the hooks file). */
  arg: string;
  why: string;
  /** How it was disabled (undefined: kept, by --trust). */
  disabled?: string;
}

/**
 * The `networks` file's NICs on host bridges (the LAN the host is on): the
 * lines are removed unless `trust`; private networks stay (they reach only
 * VMs of this VMDIR). A file that does not parse is left for `vm doctor`.
 */
function distrustBridges(dir: string, trust: boolean): Untrusted[] {
  let list: Attachment[];
  try {
    list = readAttachments(dir);
  } catch (e) {
    if (e instanceof ParseError) return [];
    throw e;
  }
  const bridges = list.filter((a) => a.kind === "bridge");
  if (bridges.length === 0) return [];
  const found: Untrusted[] = bridges.map((a) => ({
    at: F.networks,
    arg: formatAttachments([a]).trim(),
    why: "a NIC on a bridge of this host (its LAN)",
  }));
  if (!trust) {
    writeFileAtomic(
      join(dir, F.networks),
      formatAttachments(list.filter((a) => a.kind !== "bridge")),
    );
    for (const f of found) f.disabled = "line removed";
  }
  return found;
}

/** The name a distrusted hooks file gets. */
export const UNTRUSTED_HOOKS = `${F.hooks}.untrusted`;

/** The name a distrusted shares file gets. */
export const UNTRUSTED_SHARES = `${F.shares}.untrusted`;

/** Monitor values that stay on this host's private channels. */
const PRIVATE_MONITOR = /^(mon:)?(unix:|none$|stdio$|vc\b)/;

/** Options whose value only the guest reads. */
const GUEST_ONLY = new Set(["-append", "-name", "-uuid"]);

/** Every string in a JSON value. Pure. */
function jsonStrings(v: unknown, out: string[]): void {
  if (typeof v === "string") out.push(v);
  else if (v !== null && typeof v === "object") {
    for (const x of Object.values(v as Record<string, unknown>)) jsonStrings(x, out);
  }
}

/** The host paths a group's words name that lie outside `vmDir` (absolute). Pure. */
function pathsOutside(g: OptionGroup, vmDir: string): string[] {
  if (GUEST_ONLY.has(g.opt)) return [];
  const text = g.value?.value ?? (g.opt === "" ? g.word.value : "");
  const items: string[] = [];
  if (text.startsWith("{")) {
    try {
      jsonStrings(JSON.parse(text), items);
    } catch (e) {
      if (!(e instanceof SyntaxError)) throw e;
      items.push(text);
    }
  } else items.push(...parseOpts(text).map((o) => (o.bare ? o.key : o.value)));
  return items.map((s) => s.replace(/^(?:[a-z]+:)+(?=[/.])/, ""))
    .filter((s) => s.startsWith("/") || /(^|\/)\.\.(\/|$)/.test(s))
    .filter((s) => !isInsideDir(vmDir, resolve(vmDir, s)));
}

/**
 * Why option group `g` reaches beyond the guest (see the module doc), or
 * undefined; with `vmDir`, host paths outside it count too. Pure.
 */
export function hostReach(g: OptionGroup, vmDir?: string): string | undefined {
  const v = g.value?.value ?? "";
  if (g.opt === "-incoming") return "QEMU would wait for a migration stream to replace the guest";
  if (g.opt === "-plugin") return "QEMU would load a shared library of the host";
  if (g.opt === "-sandbox" && /^off\b/.test(v)) return "it turns QEMU's seccomp sandbox off";
  if (
    g.opt === "-mon" || (["-monitor", "-qmp", "-qmp-pretty"].includes(g.opt) &&
      !PRIVATE_MONITOR.test(v))
  ) {
    return "a monitor others could reach controls QEMU (and through it the host)";
  }
  const run = v.startsWith("{")
    ? undefined
    : parseOpts(v).find((o) =>
      ["script", "downscript", "helper"].includes(o.key) && o.value !== "no"
    );
  if (run !== undefined) return `QEMU would run the program "${run.value}" of the host`;
  const out = vmDir === undefined ? [] : pathsOutside(g, vmDir);
  if (out.length > 0) return `it names "${out[0]}", a host file outside the VM directory`;
  return undefined;
}

/** `text` with its lines `lines` (1-based) commented out as `# untrusted: …`. Pure. */
function commentLines(text: string, lines: ReadonlySet<number>): string {
  return text.split("\n").map((l, i) => (lines.has(i + 1) ? `# untrusted: ${l}` : l)).join("\n");
}

/**
 * The findings of one template's text, and its text with them commented out
 * when that takes nothing else with it (undefined: the whole template must
 * go). Pure.
 */
export function distrustTemplate(
  text: string,
  file: string,
  env: Env,
  vmDir: string,
): { found: Untrusted[]; text?: string } {
  let args: VmArg[];
  try {
    args = templateArgs(text, file, env);
  } catch (e) {
    if (e instanceof ParseError) return { found: [] }; // vm never runs a template it cannot read
    throw e;
  }
  const found: Untrusted[] = [];
  const drop = new Set<VmArg>();
  const lines = new Set<number>();
  for (const g of groupOptions(args)) {
    const why = hostReach(g, vmDir);
    if (why === undefined) continue;
    found.push({ at: `${file}:${g.word.line}`, arg: shown(g), why });
    for (const w of g.value === undefined ? [g.word] : [g.word, g.value]) {
      drop.add(w);
      lines.add(w.line);
    }
  }
  if (found.length === 0) return { found };
  const commented = commentLines(text, lines);
  const want = args.filter((a) => !drop.has(a)).map((a) => a.value);
  const got = templateArgs(commented, file, env).map((a) => a.value);
  const exact = got.length === want.length && got.every((w, i) => w === want[i]);
  return exact ? { found, text: commented } : { found };
}

/**
 * Finds what the VM assembled in `dir` (to become `final`, whose environment
 * `env` is) brings that reaches the host, and unless `trust` disables it (see
 * the module doc). Reads and rewrites `dir/hooks`, `dir/shares` and `dir/templates/*`.
 */
export function distrustTree(dir: string, final: string, env: Env, trust: boolean): Untrusted[] {
  const out: Untrusted[] = [];
  const hooks = join(dir, F.hooks);
  if (exists(hooks)) {
    const why = 'a shell file run on every start and by "vm args"';
    const hook: Untrusted = { at: F.hooks, arg: "", why };
    if (!trust) {
      Deno.renameSync(hooks, join(dir, UNTRUSTED_HOOKS));
      hook.disabled = `renamed ${UNTRUSTED_HOOKS}`;
    }
    out.push(hook);
  }
  const shares = join(dir, F.shares);
  if (exists(shares)) {
    const why = "host folders shared with the guest, named as on the host it came from";
    const share: Untrusted = { at: F.shares, arg: "", why };
    if (!trust) {
      Deno.renameSync(shares, join(dir, UNTRUSTED_SHARES));
      share.disabled = `renamed ${UNTRUSTED_SHARES}`;
    }
    out.push(share);
  }
  out.push(...distrustBridges(dir, trust));
  const tdir = join(dir, F.templates);
  for (const name of exists(tdir) ? templateNames(tdir) : []) {
    const path = join(tdir, name);
    const text = readTemplateText(dir, name) ?? "";
    const r = distrustTemplate(text, `${F.templates}/${name}`, env, final);
    out.push(...r.found);
    if (trust || r.found.length === 0) continue;
    if (r.text !== undefined) writeFileAtomic(path, r.text);
    else Deno.renameSync(path, join(tdir, `.${name}.untrusted`));
    const how = r.text !== undefined ? "line commented out" : `renamed .${name}.untrusted`;
    for (const f of r.found) f.disabled = how;
  }
  return out;
}
