// Unit tests of lib/os/stream_hash.ts: updates of odd sizes give node:crypto's digest.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { type DigestName, openStreamHash } from "../../lib/os/stream_hash.ts";

/** 3 MiB + 7 bytes of random data, and cut points that make odd-sized updates. */
const data = new Uint8Array((3 << 20) + 7);
for (let i = 0; i < data.length; i += 65536) {
  crypto.getRandomValues(data.subarray(i, Math.min(data.length, i + 65536)));
}
const cuts = [0, 1, 4096, 1 << 20, (1 << 20) + 3, 3 << 20, data.length];

for (const name of ["sha256", "sha512"] as DigestName[]) {
  Deno.test(`openStreamHash ${name}: updates of odd sizes give node:crypto's digest`, async () => {
    const h = await openStreamHash(name);
    for (let i = 1; i < cuts.length; i++) await h.update(data.subarray(cuts[i - 1], cuts[i]));
    assert.equal(h.hex(), createHash(name).update(data).digest("hex"));
    assert.equal(h.name, name);
    h.close();
  });
  Deno.test(`openStreamHash ${name}: the digest of nothing`, async () => {
    const h = await openStreamHash(name);
    assert.equal(h.hex(), createHash(name).digest("hex"));
    h.close();
  });
}
