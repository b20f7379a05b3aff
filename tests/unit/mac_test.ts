// Fresh MAC addresses for clones (lib/mac.ts).

import assert from "node:assert/strict";
import { MAC_PREFIX, macFromBytes, macsIn, randomMac, replaceMacs } from "../../lib/vm/mac.ts";

Deno.test("randomMac: QEMU's locally administered unicast prefix, random tail", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const mac = randomMac();
    assert.match(mac, /^52:54:00(:[0-9a-f]{2}){3}$/);
    seen.add(mac);
  }
  assert.ok(seen.size > 40, `only ${seen.size} different addresses in 50`);
  const first = parseInt(MAC_PREFIX.slice(0, 2), 16);
  assert.equal(first & 1, 0, "unicast");
  assert.equal(first & 2, 2, "locally administered");
  assert.equal(macFromBytes([0, 0xab, 0x5]), "52:54:00:00:ab:05");
});

Deno.test("macsIn: mac= addresses in any case, once each", () => {
  const text = "-nic user,mac=52:54:00:AA:bb:01\n-device e1000,netdev=n,mac=52:54:00:aa:BB:01\n" +
    "-device virtio-net,mac=02:00:00:00:00:02,id=x # hwmac=11:11:11:11:11:11\n";
  assert.deepEqual(macsIn(text), ["52:54:00:aa:bb:01", "02:00:00:00:00:02"]);
  assert.deepEqual(macsIn("-m 2G\n-name mac=notamac\n"), []);
});

Deno.test("replaceMacs: each address gets one fresh address, everything else unchanged", () => {
  const text = "-nic user,mac=52:54:00:AA:BB:01\n" +
    "-device e1000,mac=52:54:00:aa:bb:01,id=a\n" +
    "-device e1000,id=b,mac=02:00:00:00:00:02\n" +
    "-name hwmac=52:54:00:aa:bb:01\n" +
    "-name x,mac=52:54:00:aa:bb:01:ff\n";
  const fresh = ["52:54:00:00:00:01", "52:54:00:00:00:02"];
  const map = new Map<string, string>();
  const out = replaceMacs(text, map, () => fresh.shift() ?? "none");
  assert.equal(
    out,
    "-nic user,mac=52:54:00:00:00:01\n" +
      "-device e1000,mac=52:54:00:00:00:01,id=a\n" +
      "-device e1000,id=b,mac=52:54:00:00:00:02\n" +
      "-name hwmac=52:54:00:aa:bb:01\n" +
      "-name x,mac=52:54:00:aa:bb:01:ff\n",
  );
  assert.deepEqual([...map], [
    ["52:54:00:aa:bb:01", "52:54:00:00:00:01"],
    ["02:00:00:00:00:02", "52:54:00:00:00:02"],
  ]);
  // The same map across two files keeps one address one address.
  assert.equal(replaceMacs("mac=02:00:00:00:00:02", map, () => "x"), "mac=52:54:00:00:00:02");
});

Deno.test("replaceMacs: a fresh address never repeats one in use", () => {
  const fresh = ["52:54:00:00:00:09", "52:54:00:00:00:09", "52:54:00:00:00:0a"];
  const map = new Map<string, string>();
  const out = replaceMacs(
    "mac=52:54:00:00:00:01",
    map,
    () => fresh.shift() ?? "52:54:00:ff:ff:ff",
    ["52:54:00:00:00:09"],
  );
  assert.equal(out, "mac=52:54:00:00:00:0a");
  // Never the source's own address either.
  const src = ["52:54:00:00:00:01", "52:54:00:00:00:02"];
  assert.equal(
    replaceMacs("mac=52:54:00:00:00:01", new Map(), () => src.shift() ?? ""),
    "mac=52:54:00:00:00:02",
  );
});
