/**
 * The NoCloud seed's contents: `meta-data` (instance-id, local-hostname),
 * vm's `#cloud-config` user-data (a sudo user with SSH keys, the SSH host
 * key vm pinned, hostname, optional password hash and packages), and the
 * user-data the guest gets when the user adds their own file: a MIME
 * multi-part whose second part is theirs, so cloud-init merges their
 * cloud-config over vm's (their keys win) or runs their script. Pure.
 * Level: bottom (lib/cloud_init, no I/O).
 * @module
 */

import { ParseError, UsageError } from "../errors.ts";
import { Literal, toYaml, unprintable, type YamlValue } from "./yaml.ts";
import { toHex } from "../text/bytes.ts";
import { parsePublicKey } from "../ssh/keys.ts";

/** What vm's cloud-config sets up. */
export interface CloudConfigSpec {
  /** The guest's hostname (a fully qualified name also sets `fqdn`). */
  hostname: string;
  /** The login user, with password-less sudo. */
  user: string;
  /** Public key lines allowed to log in as `user`. */
  authorizedKeys: readonly string[];
  /** The guest's SSH host key (ed25519): private PEM and public line. */
  hostKey: { private: string; public: string };
  /** A `$6$` hash; absent: the password stays locked. */
  passwordHash?: string;
  /** Debian packages to install on first boot. */
  packages?: readonly string[];
}

const USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
const LABEL_RE = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const PACKAGE_RE = /^[a-z0-9][a-z0-9+.:=~-]*$/;

/** Throws UsageError unless `name` is a valid Linux user name. Pure. */
export function checkUser(name: string): string {
  if (!USER_RE.test(name)) {
    throw new UsageError(
      `User name "${name}" is not allowed; use lower-case letters, digits, "_", "-" ` +
        `(starting with a letter or "_", at most 32)`,
    );
  }
  return name;
}

/** Throws UsageError unless `name` is a valid host name (RFC 1123, at most 253 bytes). Pure. */
export function checkHostname(name: string): string {
  if (name.length > 253 || !name.split(".").every((l) => LABEL_RE.test(l))) {
    throw new UsageError(
      `Host name "${name}" is not allowed; use letters, digits and "-" in dot-separated labels`,
    );
  }
  return name;
}

/** A host name from a VM name: characters a host name cannot have become "-". Pure. */
export function hostnameFor(vmName: string): string {
  const labels = vmName.split(".").map((l) =>
    l.replace(/[^A-Za-z0-9-]/g, "-").replace(/^-+|-+$/g, "").slice(0, 63).replace(/-+$/, "") || "vm"
  );
  return labels.join(".").slice(0, 253);
}

/** Throws UsageError for a package name apt would not take. Pure. */
export function checkPackages(names: readonly string[]): string[] {
  for (const p of names) {
    if (!PACKAGE_RE.test(p)) {
      throw new UsageError(`Package name "${p}" is not allowed; give Debian package names`);
    }
  }
  return [...names];
}

/** A new instance-id: `iid-` and 16 hex digits. */
export function newInstanceId(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return "iid-" + toHex(b);
}

/** The `meta-data` file. Pure. */
export function metaData(instanceId: string, hostname: string): string {
  return toYaml({ "instance-id": instanceId, "local-hostname": hostname });
}

/**
 * The `network-config` (version 2) of a VM made with `--image` and `--net`:
 * DHCP on each of its NICs, matched by MAC (`macs`: the user-mode NIC's
 * first, then those on networks) and named `vmnic0`, `vmnic1`…, as
 * cloud-init's own default configures only the first NIC. Pure.
 */
export function dhcpNetworkConfig(macs: readonly string[]): string {
  const ethernets: { [name: string]: YamlValue } = {};
  macs.forEach((mac, i) => {
    ethernets[`vmnic${i}`] = {
      match: { macaddress: mac.toLowerCase() },
      "set-name": `vmnic${i}`,
      dhcp4: true,
    };
  });
  return toYaml({ version: 2, ethernets });
}

/** The instance-id of a `meta-data` text, or undefined. Pure. */
export function instanceIdOf(metaDataText: string): string | undefined {
  const m = /^instance-id:[ \t]*("(?:[^"\\]|\\.)*"|'[^']*'|[^\s#]+)/m.exec(metaDataText);
  const v = m?.[1];
  if (v === undefined) return undefined;
  if (v.startsWith('"')) return JSON.parse(v) as string;
  return v.startsWith("'") ? v.slice(1, -1) : v;
}

/** `meta-data` with its instance-id replaced (the other lines kept). Pure. */
export function withInstanceId(metaDataText: string, instanceId: string): string {
  const line = `instance-id: ${JSON.stringify(instanceId)}`;
  return /^instance-id:.*$/m.test(metaDataText)
    ? metaDataText.replace(/^instance-id:.*$/m, line)
    : `${line}\n${metaDataText}`;
}

/** vm's `#cloud-config` user-data. Pure. Throws UsageError for a bad user, host or package name. */
export function cloudConfig(s: CloudConfigSpec): string {
  const host = checkHostname(s.hostname);
  const short = host.split(".")[0] ?? host;
  const packages = checkPackages(s.packages ?? []);
  const user = {
    name: checkUser(s.user),
    gecos: s.user,
    shell: "/bin/bash",
    sudo: "ALL=(ALL) NOPASSWD:ALL",
    lock_passwd: s.passwordHash === undefined,
    hashed_passwd: s.passwordHash,
    ssh_authorized_keys: s.authorizedKeys.map((k) => k.trim()),
  };
  return "#cloud-config\n" + toYaml({
    hostname: short,
    fqdn: host === short ? undefined : host,
    manage_etc_hosts: true,
    users: [user],
    ssh_deletekeys: true,
    ssh_genkeytypes: ["ed25519"],
    ssh_keys: {
      ed25519_private: new Literal(s.hostKey.private),
      ed25519_public: s.hostKey.public.trim(),
    },
    packages: packages.length > 0 ? packages : undefined,
  });
}

/**
 * vm's user-data with public key line `key` added to its one
 * `ssh_authorized_keys:` list (the login user's, as {@link cloudConfig}
 * writes it; the item is indented like the others): "present" when the key
 * is there already, "no-list" when the text has no such list, or several
 * (edited by hand: the key is the user's to add). Pure.
 */
export function withAuthorizedKey(userData: string, key: string): string | "present" | "no-list" {
  if (userData.includes(parsePublicKey(key, "vm's SSH key").base64)) return "present";
  const lines = userData.split("\n");
  const at = lines.flatMap((l, i) => (/^\s*ssh_authorized_keys:\s*$/.test(l) ? [i] : []));
  const head = at[0];
  if (head === undefined || at.length > 1) return "no-list";
  const pad = /^(\s*)-\s/.exec(lines[head + 1] ?? "")?.[1] ??
    (/^\s*/.exec(lines[head] ?? "")?.[0] ?? "") + "  ";
  let end = head + 1;
  while (end < lines.length && (lines[end] ?? "").startsWith(pad + "- ")) end++;
  lines.splice(end, 0, `${pad}- ${JSON.stringify(key.trim())}`);
  return lines.join("\n");
}

/**
 * The MIME type cloud-init gives user-data by its first line, or "multipart" for a MIME message.
 * Pure.
 */
export function userDataType(text: string): string | undefined {
  const starts: [string, string][] = [
    ["#cloud-config-archive", "text/cloud-config-archive"],
    ["#cloud-config-jsonp", "text/cloud-config-jsonp"],
    ["#cloud-config", "text/cloud-config"],
    ["#cloud-boothook", "text/cloud-boothook"],
    ["#include", "text/x-include-url"],
    ["#part-handler", "text/part-handler"],
    ["## template: jinja", "text/jinja2"],
    ["#!", "text/x-shellscript"],
  ];
  for (const [prefix, type] of starts) if (text.startsWith(prefix)) return type;
  const headers = text.slice(0, Math.max(0, text.search(/\r?\n\r?\n/)));
  if (/^content-type:[ \t]*multipart\//im.test(headers)) return "multipart";
  return undefined;
}

/** Merge rule on the user's cloud-config part: their keys replace vm's (later parts win). */
export const THEIR_KEYS_WIN = "dict(replace)+list(replace)+str()";

/** One part: headers, blank line, body. */
function part(type: string, filename: string, body: string, extra: string[] = []): string {
  return [
    `Content-Type: ${type}; charset="utf-8"`,
    "MIME-Version: 1.0",
    "Content-Transfer-Encoding: 8bit",
    `Content-Disposition: attachment; filename="${filename}"`,
    ...extra,
    "",
    body.endsWith("\n") ? body : body + "\n",
  ].join("\n");
}

/**
 * The user-data the guest gets: vm's cloud-config alone, or with the
 * user's own user-data `theirs` (`source` names its file) as a MIME
 * multi-part: vm's cloud-config first, theirs second — a cloud-config
 * merged over vm's with {@link THEIR_KEYS_WIN}, a script or other
 * cloud-init format as its own part, a MIME multi-part nested whole.
 * With `appended` (the shares' mounts: {@link sharesCloudConfig}) it is a
 * multi-part even without theirs, that part last.
 * `boundary` must not occur in either text. Pure. Throws UsageError for
 * user-data cloud-init would not recognise, and for a cloud-config holding
 * a character YAML refuses (cloud-init would drop the whole file).
 */
export function composeUserData(
  ours: string,
  theirs: string | undefined,
  source: string,
  boundary: string,
  appended?: string,
): string {
  if (theirs === undefined) {
    return appended === undefined ? ours : multipart(ours, [], appended, boundary);
  }
  const type = userDataType(theirs);
  if (type === undefined) {
    throw new UsageError(
      `"${source}" is no user-data cloud-init recognises; start it with "#cloud-config", ` +
        `"#!" (a script) or give a MIME multi-part`,
    );
  }
  const bad = type === "text/cloud-config" ? unprintable(theirs) : undefined;
  if (bad !== undefined) {
    const code = bad.char.codePointAt(0)?.toString(16).toUpperCase().padStart(4, "0");
    throw new ParseError(
      source,
      bad.line,
      `character U+${code} is not allowed in YAML (cloud-init would ignore the whole file); ` +
        `remove it`,
    );
  }
  if (ours.includes(boundary) || theirs.includes(boundary)) {
    throw new UsageError(`MIME boundary "${boundary}" occurs in the user-data; try again`);
  }
  const second = type === "multipart" ? theirs.replace(/\r\n/g, "\n") : part(
    type,
    "user-data",
    theirs,
    type === "text/cloud-config" ? [`Merge-Type: ${THEIR_KEYS_WIN}`] : [],
  );
  return multipart(ours, [second], appended, boundary);
}

/**
 * The MIME multi-part of vm's cloud-config `ours`, the parts `middle` (made
 * already), and `appended`, vm's cloud-config of the shares' mounts, merged
 * with {@link APPEND_LISTS} so that it adds to the mounts before it. Pure.
 */
function multipart(
  ours: string,
  middle: readonly string[],
  appended: string | undefined,
  boundary: string,
): string {
  if (ours.includes(boundary) || appended?.includes(boundary)) {
    throw new UsageError(`MIME boundary "${boundary}" occurs in the user-data; try again`);
  }
  const parts = [
    part("text/cloud-config", "vm.cfg", ours),
    ...middle.map((p) => p.endsWith("\n") ? p : p + "\n"),
    ...(appended === undefined
      ? []
      : [part("text/cloud-config", "vm-shares.cfg", appended, [`Merge-Type: ${APPEND_LISTS}`])]),
  ];
  return [
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    "MIME-Version: 1.0",
    "",
    ...parts.flatMap((p) => [`--${boundary}`, p]),
    `--${boundary}--`,
    "",
  ].join("\n");
}

/** Merge rule of the shares' part: its `mounts` are appended to those of the parts before. */
export const APPEND_LISTS = "dict(recurse_array,no_replace)+list(append)+str()";

/** One shared folder as the guest mounts it. */
export interface ShareMount {
  /** The virtiofs tag. */
  tag: string;
  /** The mount point in the guest. */
  guestPath: string;
  readonly: boolean;
}

/**
 * The cloud-config mounting the shares at boot (`mounts:` entries
 * `[TAG, /mnt/TAG, virtiofs, defaults,nofail, 0, 0]`; `nofail`: a share
 * missing at a boot does not stop it), or undefined for none. Pure.
 */
export function sharesCloudConfig(mounts: readonly ShareMount[]): string | undefined {
  if (mounts.length === 0) return undefined;
  return "#cloud-config\n" + toYaml({
    mounts: mounts.map((
      m,
    ) => [m.tag, m.guestPath, "virtiofs", m.readonly ? "ro,nofail" : "defaults,nofail", "0", "0"]),
  });
}

/** A random MIME boundary. */
export function newBoundary(): string {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return "==vm-" + toHex(b) + "==";
}
