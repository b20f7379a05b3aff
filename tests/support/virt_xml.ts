/**
 * Test support: libvirt's schema check of a domain's XML (virt-xml-validate,
 * package libvirt-clients). Not a test file.
 * @module
 */

import assert from "node:assert/strict";

/** Runs virt-xml-validate on `xml`; fails the test with its output when invalid. */
export async function validateDomainXml(xml: string): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "vm-xml-test-" });
  try {
    Deno.writeTextFileSync(`${dir}/d.xml`, xml);
    const out = await new Deno.Command("virt-xml-validate", { args: [`${dir}/d.xml`, "domain"] })
      .output();
    const dec = new TextDecoder();
    assert.ok(out.success, dec.decode(out.stdout) + dec.decode(out.stderr) + "\n" + xml);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
