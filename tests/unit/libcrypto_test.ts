import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { type DigestName, EvpDigest } from "../../lib/os/libcrypto.ts";
import { nodeStreamHash, openStreamHash } from "../../lib/os/stream_hash.ts";
import { toHex } from "../../lib/text/bytes.ts";
import { skippable } from "../support/skip.ts";

const noLibcrypto = (() => {
  const d = EvpDigest.open("sha256");
  d?.close();
  return d === undefined;
})();

/** 3 MiB + 7 bytes of random data, and cut points that make odd-sized updates. */
const data = new Uint8Array((3 << 20) + 7);
for (let i = 0; i < data.length; i += 65536) {
  crypto.getRandomValues(data.subarray(i, Math.min(data.length, i + 65536)));
}
const cuts = [0, 1, 4096, 1 << 20, (1 << 20) + 3, 3 << 20, data.length];

for (const name of ["sha256", "sha512"] as DigestName[]) {
  Deno.test({
    ...skippable(
      `EvpDigest ${name}: updates of odd sizes give node:crypto's digest`,
      noLibcrypto ? "no libcrypto.so.3 here" : undefined,
    ),
    async fn() {
      const d = EvpDigest.open(name)!;
      for (let i = 1; i < cuts.length; i++) await d.update(data.subarray(cuts[i - 1], cuts[i]));
      assert.equal(toHex(d.digest()), createHash(name).update(data).digest("hex"));
    },
  });
  Deno.test({
    ...skippable(
      `EvpDigest ${name}: the digest of nothing`,
      noLibcrypto ? "no libcrypto.so.3 here" : undefined,
    ),
    fn() {
      const d = EvpDigest.open(name)!;
      assert.equal(toHex(d.digest()), createHash(name).digest("hex"));
    },
  });
  Deno.test(`openStreamHash and nodeStreamHash ${name}: the same hex as node:crypto`, async () => {
    for (const open of [openStreamHash, nodeStreamHash]) {
      const h = await open(name);
      await h.update(data.subarray(0, 5));
      await h.update(data.subarray(5));
      assert.equal(h.hex(), createHash(name).update(data).digest("hex"), open.name);
      assert.equal(h.name, name);
      h.close();
    }
  });
}

Deno.test({
  ...skippable(
    "EvpDigest: one update at a time; closed while hashing, it is freed once the update ends",
    noLibcrypto ? "no libcrypto.so.3 here" : undefined,
  ),
  async fn() {
    const d = EvpDigest.open("sha512")!;
    const running = d.update(data);
    await assert.rejects(() => d.update(data), /an update is still running/);
    assert.throws(() => d.digest(), /an update is still running/);
    d.close();
    await running; // finishes on its thread with the context still there
    assert.throws(() => d.digest(), /closed/);
    d.close(); // twice is nothing
  },
});

Deno.test({
  ...skippable(
    "EvpDigest: the receiving thread goes on while a block is hashed",
    noLibcrypto ? "no libcrypto.so.3 here" : undefined,
  ),
  async fn() {
    const d = EvpDigest.open("sha512")!;
    const big = new Uint8Array(64 << 20); // ~0.1 s of SHA-512
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      await d.update(big);
    } finally {
      clearInterval(timer);
      d.close();
    }
    assert.ok(ticks >= 5, `the event loop ran ${ticks} timers while hashing 64 MiB`);
  },
});
