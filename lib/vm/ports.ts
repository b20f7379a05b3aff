/**
 * Port forwards of a VM's user-mode network: the `ports` file in the VM
 * directory, one rule per line — `tcp 127.0.0.1:2222 22` (protocol, host
 * address and port, guest port); `#` comments and blank lines allowed. It
 * is parsed, never executed. `vm __run` turns it into `hostfwd=` options
 * (`$VM_HOSTFWD` in the `net-user-fwd` template), `vm port` edits it and
 * applies a change to a running VM with the HMP commands built here;
 * {@link forwardCarrier} tells whether a VM's templates take the forwards.
 * Pure, except {@link readPorts}, {@link writePorts}, {@link portsInUse} and
 * {@link portClashes}, which read or write `<vm>/ports`.
 * Level: vm.
 * @module
 */

import { join } from "../os/path.ts";
import { ParseError, UsageError } from "../errors.ts";
import { readTextIfExists, writeFileAtomic } from "../os/fs.ts";
import { listVms } from "./dir.ts";
import { F } from "../layout.ts";
import { lexCommands } from "../text/shell_words.ts";

/** The id of the user-mode netdev the forwards belong to. */
export const NETDEV_ID = "vmnet";

/** The environment variable `__run` sets to the `,hostfwd=…` options. */
export const HOSTFWD_VAR = "VM_HOSTFWD";

/** The first host port tried for a new VM's SSH forward. */
export const FIRST_SSH_PORT = 2222;

/** One forward: host `addr:hostPort` to the guest's `guestPort`. */
export interface PortRule {
  proto: "tcp" | "udp";
  hostAddr: string;
  hostPort: number;
  guestPort: number;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** A port number 1–65535 from text, or undefined. Pure. */
function portNumber(text: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/**
 * Parses the words of one rule: `[tcp|udp] [ADDR:]HOSTPORT GUESTPORT`
 * (protocol tcp and address 127.0.0.1 by default). Pure. Returns the rule
 * or a reason it is not one.
 */
export function parseRuleWords(words: readonly string[]): PortRule | string {
  const w = [...words];
  const proto = w[0] === "tcp" || w[0] === "udp" ? w.shift() as "tcp" | "udp" : "tcp";
  if (w.length !== 2) return "expected [tcp|udp] [ADDR:]HOSTPORT GUESTPORT";
  const host = w[0] ?? "";
  const colon = host.lastIndexOf(":");
  const hostAddr = colon < 0 ? "127.0.0.1" : host.slice(0, colon);
  const hostPort = portNumber(colon < 0 ? host : host.slice(colon + 1));
  const guestPort = portNumber(w[1] ?? "");
  if (!IPV4.test(hostAddr)) return `"${hostAddr}" is not an IPv4 address`;
  if (hostPort === undefined) return `"${host}" has no host port 1-65535`;
  if (guestPort === undefined) return `"${w[1]}" is not a guest port 1-65535`;
  return { proto, hostAddr, hostPort, guestPort };
}

/** A rule as one line of the file (no newline). Pure. */
export function formatRule(r: PortRule): string {
  return `${r.proto} ${r.hostAddr}:${r.hostPort} ${r.guestPort}`;
}

/** Whether two rules take the same host socket (protocol, address, port). Pure. */
export function sameHostSide(a: PortRule, b: PortRule): boolean {
  return a.proto === b.proto && a.hostPort === b.hostPort &&
    (a.hostAddr === b.hostAddr || a.hostAddr === "0.0.0.0" || b.hostAddr === "0.0.0.0");
}

/** Parses a `ports` file's text. Pure. Throws ParseError (`<file>:<line>: …`). */
export function parsePorts(text: string, file: string): PortRule[] {
  const rules: PortRule[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") return;
    const r = parseRuleWords(line.split(/\s+/));
    if (typeof r === "string") throw new ParseError(file, i + 1, r);
    const clash = rules.find((o) => sameHostSide(o, r));
    if (clash !== undefined) {
      throw new ParseError(file, i + 1, `host port ${r.hostPort} is forwarded twice`);
    }
    rules.push(r);
  });
  return rules;
}

/** The text of a `ports` file holding `rules`. Pure. */
export function formatPorts(rules: readonly PortRule[]): string {
  return rules.map((r) => formatRule(r) + "\n").join("");
}

/** One `hostfwd=` option value: `tcp:127.0.0.1:2222-:22`. Pure. */
export function hostfwd(r: PortRule): string {
  return `${r.proto}:${r.hostAddr}:${r.hostPort}-:${r.guestPort}`;
}

/** The `,hostfwd=…` suffix of a `-netdev user` option (empty for no rules). Pure. */
export function hostfwdOptions(rules: readonly PortRule[]): string {
  return rules.map((r) => `,hostfwd=${hostfwd(r)}`).join("");
}

/** The HMP command adding `r` to a running VM. Pure. */
export function hmpAdd(r: PortRule): string {
  return `hostfwd_add ${NETDEV_ID} ${hostfwd(r)}`;
}

/** The HMP command removing `r` from a running VM. Pure. */
export function hmpRemove(r: PortRule): string {
  return `hostfwd_remove ${NETDEV_ID} ${r.proto}:${r.hostAddr}:${r.hostPort}`;
}

/** The SSH forward: the first tcp rule to guest port 22, if any. Pure. */
export function sshRule(rules: readonly PortRule[]): PortRule | undefined {
  return rules.find((r) => r.proto === "tcp" && r.guestPort === 22);
}

/**
 * The first port from `from` up that `used` does not hold and `free`
 * accepts (e.g. nothing listens there on the host). Pure given `free`.
 * Throws UsageError when none is left below 65536.
 */
export function firstFreePort(
  used: ReadonlySet<number>,
  free: (port: number) => boolean,
  from = FIRST_SSH_PORT,
): number {
  for (let p = from; p <= 65535; p++) if (!used.has(p) && free(p)) return p;
  throw new UsageError(`No free host port from ${from} up; remove forwards with "vm port"`);
}

/** The VM's rules (none when it has no `ports` file). Reads `<vmDir>/ports`. */
export function readPorts(vmDir: string): PortRule[] {
  const text = readTextIfExists(join(vmDir, F.ports));
  return text === undefined ? [] : parsePorts(text, join(vmDir, F.ports));
}

/** Writes the VM's rules atomically (mode 0600). Writes `<vmDir>/ports`. */
export function writePorts(vmDir: string, rules: readonly PortRule[]): void {
  writeFileAtomic(join(vmDir, F.ports), formatPorts(rules), 0o600);
}

/** The rules of every VM of `vmdir` whose `ports` file parses. Reads `$VMDIR/<vm>/ports`. */
function allRules(vmdir: string): { vm: string; rules: PortRule[] }[] {
  const out: { vm: string; rules: PortRule[] }[] = [];
  for (const vm of listVms(vmdir)) {
    try {
      out.push({ vm, rules: readPorts(join(vmdir, vm)) });
    } catch (e) {
      if (!(e instanceof ParseError)) throw e; // a broken file is reported when that VM starts
    }
  }
  return out;
}

/**
 * Host ports the VMs of `vmdir` forward (all of them, except VM `except`),
 * skipping `ports` files that do not parse. Reads `$VMDIR/<vm>/ports`.
 */
export function portsInUse(vmdir: string, except?: string): Set<number> {
  const used = new Set<number>();
  for (const { vm, rules } of allRules(vmdir)) {
    if (vm !== except) { for (const r of rules) used.add(r.hostPort); }
  }
  return used;
}

/** A host socket forwarded by two VMs: only one of them can run at a time. */
export interface PortClash {
  /** The VM whose rule clashes with one of `other`'s (the later by name). */
  vm: string;
  rule: PortRule;
  other: string;
}

/** Every rule of a VM of `vmdir` whose host socket an earlier VM (by name) forwards too. */
export function portClashes(vmdir: string): PortClash[] {
  const seen: { vm: string; rule: PortRule }[] = [];
  const out: PortClash[] = [];
  for (const { vm, rules } of allRules(vmdir)) {
    for (const rule of rules) {
      const first = seen.find((s) => sameHostSide(s.rule, rule));
      if (first !== undefined) out.push({ vm, rule, other: first.vm });
    }
    seen.push(...rules.map((rule) => ({ vm, rule })));
  }
  return out;
}

/**
 * The environment `__run` adds for the `net-user-fwd` template: VM_HOSTFWD,
 * from the `ports` file's `rules` (none without the file: undefined). Pure.
 */
export function portsEnv(rules: readonly PortRule[] | undefined): Record<string, string> {
  return rules === undefined ? {} : { [HOSTFWD_VAR]: hostfwdOptions(rules) };
}

/**
 * The `net-user-fwd` template: a user-mode netdev `vmnet` whose forwards
 * `__run` fills in from `ports` (`$VM_HOSTFWD`), on a virtio NIC with `mac`. Pure.
 */
export function netTemplate(mac: string): string {
  return `-netdev "user,id=${NETDEV_ID}$${HOSTFWD_VAR}"\n-device virtio-net-pci,netdev=${NETDEV_ID},mac=${mac}\n`;
}

/**
 * The `net-user-fwd` template `vm port` adds to a VM whose templates have no
 * network options: QEMU's default NIC (`-nic user`: the machine's default
 * model, MAC and slot, so the guest sees the same card) on the user-mode
 * netdev `vmnet` that carries the forwards.
 */
export const DEFAULT_NIC_TEMPLATE = `-nic "user,id=${NETDEV_ID}$${HOSTFWD_VAR}"\n`;

/** Options that give a VM a network of its own (no default NIC then). */
const NETWORK_OPTIONS = new Set(["-nic", "-net", "-netdev", "-nodefaults"]);

/** What carries a VM's forwards: a template, nothing yet (QEMU's default NIC), or nothing. */
type ForwardCarrier = "template" | "default-nic" | "own-network";

/**
 * How the templates `texts` (name → text) carry the forwards of `ports`:
 * "template" when one expands `$VM_HOSTFWD`; else "default-nic" when none
 * has a network option (`-nic`, `-net`, `-netdev`, `-nodefaults`): QEMU's
 * default NIC, which {@link DEFAULT_NIC_TEMPLATE} can stand for; else
 * "own-network" (the forwards would never happen), with the template that
 * has the network. Pure.
 */
export function forwardCarrier(
  texts: ReadonlyMap<string, string>,
): { carrier: ForwardCarrier; template?: string } {
  let own: string | undefined;
  for (const [name, text] of texts) {
    let forwards = false;
    const lookup = (v: string) => {
      forwards ||= v === HOSTFWD_VAR;
      return undefined;
    };
    for (const cmd of lexCommands(text, { file: name, lookup })) {
      if (cmd.some((w) => NETWORK_OPTIONS.has(w.value.replace(/^--/, "-")))) own ??= name;
    }
    if (forwards) return { carrier: "template", template: name };
  }
  return own === undefined ? { carrier: "default-nic" } : { carrier: "own-network", template: own };
}
