/**
 * The cloud-init options of `vm make --image` (`--user`, `--ssh-key`
 * repeatable, `--hostname`, `--password`, `--cloud-init FILE`,
 * `--packages "a b"`) turned into lib's CloudMakeOptions; `--password`
 * asks for the password twice (without echo on a terminal) and keeps only
 * its SHA-512 crypt hash. The lead's `vm make` calls
 * {@link cloudMakeOptions}, then lib/cloud_init/provision.ts.
 * @module
 */

import { UsageError } from "../../lib/errors.ts";
import { LineReader } from "../../lib/os/line_reader.ts";
import { randomSalt, sha512Crypt } from "../../lib/text/sha_crypt.ts";
import {
  type CloudMakeOptions,
  defaultKeyFiles,
  defaultUser,
  keyFileLines,
} from "../../lib/cloud_init/provision.ts";
import { checkHostname, checkPackages, checkUser, hostnameFor } from "../../lib/cloud_init/seed.ts";
import type { Invocation, OptionSpec, OptionValues } from "../core/command.ts";
import { optFlag, optList, optString } from "../core/parse.ts";
import { untilValid, yesNo } from "../core/prompt.ts";

/** The options `vm make` gets for `--image` VMs (read here). */
export const CLOUD_MAKE_OPTIONS = [
  {
    name: "user",
    value: "NAME",
    help: "the guest's login user, with password-less sudo where the image has sudo\n" +
      "(--packages sudo installs it); default: your user name, vm for root",
  },
  {
    name: "ssh-key",
    value: "FILE",
    complete: "file",
    repeat: true,
    help: "a public key file (*.pub) that may log in (repeatable; default: every\n" +
      "~/.ssh/id_*.pub); vm's own key ($VMDIR/.default/ssh) is always added; a file\n" +
      "over 64 KiB is refused",
  },
  { name: "hostname", value: "NAME", help: "the guest's host name (default: the VM name)" },
  {
    name: "password",
    help: "ask for a password for the user (twice; only its SHA-512 hash is kept)",
  },
  {
    name: "cloud-init",
    value: "FILE",
    complete: "file",
    help: "your own user-data: a #cloud-config is merged over vm's (your keys win);\n" +
      "a #! script or a MIME multi-part is passed on as a second part; at most 1 MiB",
  },
  { name: "packages", value: '"A B"', help: "Debian packages to install at first boot" },
] as const satisfies readonly OptionSpec[];

/** The options of {@link CLOUD_MAKE_OPTIONS}, by name. */
type CloudOptions = OptionValues<typeof CLOUD_MAKE_OPTIONS>;

const encoder = new TextEncoder();
let stdinLines: LineReader | undefined;

/** Reads a line from a terminal without echoing it (raw mode, always restored). */
async function readHidden(): Promise<string | undefined> {
  Deno.stdin.setRaw(true);
  try {
    let line = "";
    const buf = new Uint8Array(1);
    for (;;) {
      const n = await Deno.stdin.read(buf);
      const c = buf[0];
      if (n === null || c === 4) return line === "" ? undefined : line; // end, Ctrl-D
      if (c === 3) throw new UsageError("Cancelled"); // Ctrl-C
      if (c === 13 || c === 10) return line;
      if (c === 127 || c === 8) line = line.slice(0, -1);
      else line += String.fromCharCode(c ?? 0);
    }
  } finally {
    Deno.stdin.setRaw(false);
    Deno.stderr.writeSync(encoder.encode("\n"));
  }
}

/**
 * Asks `question` on stderr; the answer without echo on a terminal, else
 * the next line of standard input (`readLine`, default a reader of its own:
 * pass the make prompt's, so piped answers stay in order).
 */
async function askSecret(
  question: string,
  readLine?: () => Promise<string | undefined>,
): Promise<string | undefined> {
  Deno.stderr.writeSync(encoder.encode(question));
  if (Deno.stdin.isTerminal()) return await readHidden();
  const read = readLine ?? (() => (stdinLines ??= new LineReader(Deno.stdin)).readLine());
  const answer = await read();
  Deno.stderr.writeSync(encoder.encode("\n"));
  return answer;
}

/**
 * Asks for the password twice; returns its `$6$` hash. Throws UsageError when empty or different.
 */
async function askPasswordHash(
  user: string,
  readLine?: () => Promise<string | undefined>,
): Promise<string> {
  const a = await askSecret(`Password of "${user}" in the guest: `, readLine);
  if (a === undefined || a === "") {
    throw new UsageError("No password given; leave out --password to keep it locked");
  }
  const b = await askSecret("The same again: ", readLine);
  if (a !== b) throw new UsageError("The two passwords differ; nothing was made");
  return sha512Crypt(a, randomSalt());
}

/** Words of an answer (spaces or commas between them). Pure. */
function answerWords(answer: string): string[] {
  return answer.split(/[\s,]+/).filter((w) => w !== "");
}

/** The cloud-init options of `inv` (asking for the password when --password is given). */
export async function cloudMakeOptions(
  inv: Invocation<CloudOptions>,
  readLine?: () => Promise<string | undefined>,
): Promise<CloudMakeOptions> {
  const o: CloudMakeOptions = {};
  const user = optString(inv, "user");
  if (user !== undefined) o.user = user;
  const keys = optList(inv, "ssh-key");
  if (keys.length > 0) o.sshKeys = keys;
  const host = optString(inv, "hostname");
  if (host !== undefined) o.hostname = host;
  const ci = optString(inv, "cloud-init");
  if (ci !== undefined) o.cloudInit = ci;
  const pk = optString(inv, "packages");
  if (pk !== undefined) o.packages = answerWords(pk);
  if (optFlag(inv, "password")) {
    o.passwordHash = await askPasswordHash(user ?? "the user", readLine);
  }
  return o;
}

/**
 * Asks the question `text` (it shows its default) until `check` takes the
 * answer ("" is the default) and returns what check made of it.
 */
export type Ask = <T>(text: string, check: (answer: string) => T) => Promise<T>;

/**
 * The interactive part of `vm make <vm> --image` without `-y`: asks for
 * each cloud-init option not given on the command line (empty answer: the
 * default shown in brackets) through `ask` (the make prompt's: a bad answer
 * is asked again on a terminal), the password (when wanted) through
 * {@link askPasswordHash}. Returns the options with the answers filled in.
 */
export async function askCloudOptions(
  name: string,
  given: CloudMakeOptions,
  ask: Ask,
  readLine?: () => Promise<string | undefined>,
): Promise<CloudMakeOptions> {
  const o: CloudMakeOptions = { ...given };
  const env = Deno.env.toObject();
  if (o.user === undefined) {
    const def = defaultUser(env, Deno.uid() ?? 0);
    o.user = await ask(`User in the guest (with sudo) [${def}]: `, (a) => checkUser(a || def));
  }
  if (o.sshKeys === undefined) {
    const def = defaultKeyFiles(env.HOME);
    o.sshKeys = await ask(
      `SSH public key files (*.pub) that may log in besides vm's own key ` +
        `[${def.length > 0 ? def.join(" ") : "none"}]: `,
      (a) => {
        const files = a === "" ? def : /^(none|-)$/.test(a) ? [] : answerWords(a);
        for (const f of files) keyFileLines(f);
        return files;
      },
    );
  }
  if (o.hostname === undefined) {
    const def = hostnameFor(name);
    o.hostname = await ask(`Host name [${def}]: `, (a) => checkHostname(a || def));
  }
  if (o.passwordHash === undefined && await ask("Set a password for the user? [y/N] ", yesNo)) {
    const user = o.user;
    o.passwordHash = await untilValid(() => askPasswordHash(user, readLine));
  }
  if (o.packages === undefined) {
    const packages = await ask(
      "Debian packages to install at first boot (e.g. htop curl) [none]: ",
      (a) => checkPackages(answerWords(a)),
    );
    if (packages.length > 0) o.packages = packages;
  }
  return o;
}

/**
 * The cloud-init options of `vm make` when it makes a VM from an image
 * (`image`): given ones checked, the rest asked for through `ask` unless it
 * is undefined (`-y`). Without an image, giving any of them is a usage error.
 */
export async function cloudOptionsFor(
  inv: Invocation<CloudOptions>,
  name: string,
  image: boolean,
  ask: Ask | undefined,
  readLine?: () => Promise<string | undefined>,
): Promise<CloudMakeOptions | undefined> {
  if (!image) {
    const given = CLOUD_MAKE_OPTIONS.find((o) => inv.opts[o.name] !== undefined)?.name;
    if (given !== undefined) {
      throw new UsageError(`"--${given}" sets up cloud-init, which needs "--image"`);
    }
    return undefined;
  }
  const given = await cloudMakeOptions(inv, readLine);
  return ask === undefined ? given : await askCloudOptions(name, given, ask, readLine);
}
