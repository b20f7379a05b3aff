/**
 * The NICs of a VM being made (`vm make --net`) or cloned: planned under
 * VMDIR's lock like `vm net attach`'s (lib/actions/net.ts), written into
 * the directory being assembled; a cloud-init VM's seed gets a
 * network-config with DHCP on every NIC.
 * Writes `<tmp>/networks`, maybe `<tmp>/templates/net-user-fwd` and the seed.
 * @module
 */

import { join } from "../os/path.ts";
import { CLOUD_TEMPLATES, F, SEED_FILES } from "../layout.ts";
import { exists, writeFileAtomic } from "../os/fs.ts";
import { macsIn } from "../vm/mac.ts";
import { readTemplateText } from "../vm/templates.ts";
import { dhcpNetworkConfig } from "../cloud_init/seed.ts";
import { readSeedSources, writeSeed, writeSeedSources } from "../cloud_init/seed_file.ts";
import {
  allAttachments,
  type Attachment,
  formatAttachments,
  readAttachments,
  requireNetwork,
} from "../vm/network.ts";
import { freshMac, keepUserNic, planAttach } from "./net.ts";

/**
 * Attaches a VM being made (in `tmp`, named `name`) to `nets`, a free
 * address on each, keeping its user-mode NIC unless `noNat`. The caller
 * holds VMDIR's lock. Writes `<tmp>/networks`, maybe `<tmp>/templates/net-user-fwd`.
 */
export function attachNew(
  vmdir: string,
  tmp: string,
  name: string,
  nets: readonly string[],
  noNat: boolean,
): void {
  const { byVm } = allAttachments(vmdir);
  const list: Attachment[] = [];
  for (const n of new Set(nets)) {
    byVm.set(name, list);
    list.push(planAttach(requireNetwork(vmdir, n), name, byVm).attachment);
  }
  if (!noNat) keepUserNic(tmp);
  writeFileAtomic(join(tmp, F.networks), formatAttachments(list));
  // A cloud-init VM (--image): DHCP on every NIC in its seed's network-config.
  if (exists(join(tmp, SEED_FILES.metaData))) {
    const user = macsIn(readTemplateText(tmp, CLOUD_TEMPLATES.net) ?? "");
    const sources = readSeedSources(tmp);
    sources.networkConfig = dhcpNetworkConfig([...user, ...list.map((a) => a.mac)]);
    writeSeedSources(tmp, sources);
    writeSeed(tmp);
  }
}

/**
 * Gives a copy of a VM (`tmp`, to be VM `name`: a clone) NICs of its own on
 * the networks and bridges of the original: fresh MACs, free addresses. The
 * caller holds VMDIR's lock. Rewrites `<tmp>/networks`; returns old MAC → new.
 */
export function reattachCopy(vmdir: string, tmp: string, name: string): Map<string, string> {
  const old = readAttachments(tmp);
  const macs = new Map<string, string>();
  if (old.length === 0) return macs;
  const { byVm } = allAttachments(vmdir);
  const list: Attachment[] = [];
  byVm.set(name, list);
  for (const a of old) {
    const fresh = a.kind === "net"
      ? planAttach(requireNetwork(vmdir, a.network), name, byVm).attachment
      : { ...a, mac: freshMac(byVm) };
    macs.set(a.mac, fresh.mac);
    list.push(fresh);
  }
  writeFileAtomic(join(tmp, F.networks), formatAttachments(list));
  return macs;
}
