/**
 * The table of private networks that `vm net list` and `vm list` print:
 * NETWORK, SUBNET, SWITCH (run/down), VMS with their addresses. Pure.
 * @module
 */

import type { NetworkInfo } from "../../lib/actions/net.ts";
import { formatIp, formatSubnet } from "../../lib/net/subnet.ts";
import { alignColumns } from "./format.ts";

/** The table of networks `vm net list` and `vm list` print. Pure. */
export function networkTable(infos: readonly NetworkInfo[]): string {
  const rows: string[][] = [["NETWORK", "SUBNET", "SWITCH", "VMS"]];
  for (const n of infos) {
    const vms = n.members.map((m) => `${m.vm} ${formatIp(m.ip)}`).join(", ");
    rows.push([n.name, formatSubnet(n.subnet), n.running ? "run" : "down", vms || "-"]);
  }
  return alignColumns(rows);
}
