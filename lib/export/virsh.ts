/**
 * Running libvirt's `virsh` (package libvirt-clients): define a domain from
 * XML, read one back (`dumpxml`, `domxml-to-native`, `domstate`). The
 * connection is `connect` when given (`virsh -c URI`), else virsh's own
 * default (LIBVIRT_DEFAULT_URI, then libvirt's). Runs `virsh`, `define`
 * reading the XML from its stdin (no temporary file to leave behind). Area
 * lib/export, at the level of actions.
 * @module
 */

import { SystemError } from "../errors.ts";

/**
 * Runs `virsh [-c connect] <args>` with `input` (if any) on its stdin;
 * returns stdout. Throws SystemError with virsh's error.
 */
export async function virsh(
  args: readonly string[],
  connect?: string,
  input?: string,
): Promise<string> {
  const all = [...(connect === undefined ? [] : ["-c", connect]), ...args];
  let out: Deno.CommandOutput;
  try {
    const stdin = input === undefined ? "null" : "piped";
    const child = new Deno.Command("virsh", { args: all, stdin, stdout: "piped", stderr: "piped" })
      .spawn();
    if (input !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(input)).finally(() => w.close());
    }
    out = await child.output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new SystemError('"virsh" is not installed; install the "libvirt-clients" package');
    }
    throw e;
  }
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).split("\n")
      .map((l) => l.replace(/^error: /, "").trim()).filter((l) => l !== "");
    throw new SystemError(`virsh ${args[0] ?? ""} failed: ${err.join("; ") || `exit ${out.code}`}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** Defines (or updates, same name and UUID) a domain from `xml` with `virsh define`. */
export async function defineDomain(xml: string, connect?: string): Promise<void> {
  await virsh(["define", "/dev/stdin"], connect, xml);
}
