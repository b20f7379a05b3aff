/**
 * MAC addresses in templates: a clone must not share its source's, so every
 * `mac=xx:xx:xx:xx:xx:xx` (any case) gets a fresh random address with QEMU's
 * locally administered unicast prefix 52:54:00. Pure except `randomMac`,
 * which reads the system's random source.
 * @module
 */

/** QEMU's prefix: 0x52 has the locally-administered bit set and the multicast bit clear. */
export const MAC_PREFIX = "52:54:00";

const MAC_OPTION = /(?<=(?:^|[,\s])mac=)[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}(?![0-9A-Fa-f:])/g;

/** A MAC address from three bytes: 52:54:00:xx:xx:xx (lower case). Pure. */
export function macFromBytes(bytes: ArrayLike<number>): string {
  const tail = [0, 1, 2].map((i) => ((bytes[i] ?? 0) & 0xff).toString(16).padStart(2, "0"));
  return `${MAC_PREFIX}:${tail.join(":")}`;
}

/** A random locally administered unicast MAC address (52:54:00:xx:xx:xx). */
export function randomMac(): string {
  return macFromBytes(crypto.getRandomValues(new Uint8Array(3)));
}

/** The MAC addresses given as `mac=` in `text`, lower-cased, each once, in order. Pure. */
export function macsIn(text: string): string[] {
  const out: string[] = [];
  for (const m of text.match(MAC_OPTION) ?? []) {
    const mac = m.toLowerCase();
    if (!out.includes(mac)) out.push(mac);
  }
  return out;
}

/**
 * Replaces every `mac=` address in `text` through `map` (keys lower case):
 * an address not yet in `map` gets `fresh()` (never an address already used
 * in `map` or in `avoid`), so one address written twice gets one new address
 * everywhere. Returns the new text; `map` is updated. Pure given `fresh`.
 */
export function replaceMacs(
  text: string,
  map: Map<string, string>,
  fresh: () => string,
  avoid: readonly string[] = [],
): string {
  return text.replace(MAC_OPTION, (m) => {
    const old = m.toLowerCase();
    let mac = map.get(old);
    if (mac === undefined) {
      const taken = new Set([
        old,
        ...map.values(),
        ...map.keys(),
        ...avoid.map((a) => a.toLowerCase()),
      ]);
      for (let tries = 0;; tries++) {
        mac = fresh().toLowerCase();
        if (!taken.has(mac)) break;
        if (tries > 1000) throw new Error("No fresh MAC address found");
      }
      map.set(old, mac);
    }
    return mac;
  });
}
