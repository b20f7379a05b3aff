/**
 * Running libvirt's `virsh` (package libvirt-clients): define a domain from
 * XML, read one back (`dumpxml`, `domxml-to-native`, `domstate`). The
 * connection is `connect` when given (`virsh -c URI`), else virsh's own
 * default (LIBVIRT_DEFAULT_URI, then libvirt's). Runs `virsh`; writes a
 * temporary XML file for `define` (removed after). Area lib/export, at the level of actions.
 * @module
 */

import { join } from "../os/path.ts";
import { SystemError } from "../errors.ts";

/** Runs `virsh [-c connect] <args>`; returns stdout. Throws SystemError with virsh's error. */
export async function virsh(args: readonly string[], connect?: string): Promise<string> {
  const all = [...(connect === undefined ? [] : ["-c", connect]), ...args];
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("virsh", { args: all, stdin: "null" }).output();
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
  const dir = Deno.makeTempDirSync({ prefix: "vm-export-" });
  try {
    const file = join(dir, "domain.xml");
    Deno.writeTextFileSync(file, xml, { mode: 0o600 });
    await virsh(["define", file], connect);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
