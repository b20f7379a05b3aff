/**
 * `vm share add|list|rm`: the VM's shared folders (its `shares` file,
 * lib/vm/shares.ts), served to the guest over virtiofs from its next start
 * (lib/actions/share_edit.ts).
 * @module
 */

import {
  type CommandSpec,
  defineCommand,
  defineGroup,
  type Invocation,
  type RowOptions,
  VM,
} from "../core/command.ts";
import { print } from "../core/output.ts";
import { optFlag, optString } from "../core/parse.ts";
import { alignColumns } from "../core/format.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { inspectDir } from "../../lib/vm/inspect.ts";
import { guestMountPoint, sharesJson } from "../../lib/vm/shares.ts";
import { addShare, removeShare, type ShareChange } from "../../lib/actions/share_edit.ts";
import { visible } from "../../lib/text/visible.ts";

/** The row of `vm share`: its subcommands are those of {@link share}. */
const SHARE_ROW = {
  name: "share",
  summary: "shared folders: host folders the guest mounts over virtiofs (the shares file)",
  args: [],
} as const satisfies CommandSpec;

/** The row of `vm share add`. */
const SHARE_ADD_ROW = {
  name: "add",
  summary: "shares a host folder with the VM from its next start",
  args: [VM, { name: "<hostdir>", kind: "file" }],
  options: [
    { name: "tag", value: "TAG", help: "the tag the guest mounts by (default: the folder's name)" },
    { name: "ro", help: "read-only: the guest's writes fail (enforced on the host)" },
    {
      name: "guest-path",
      value: "PATH",
      help: "where a cloud-init guest mounts it at boot (default /mnt/TAG)",
    },
  ],
  help: [
    "The guest mounts it with: mount -t virtiofs TAG /mnt/TAG. A VM made with --image mounts",
    "it at boot (cloud-init mounts:, at --guest-path or /mnt/TAG) after",
    "vm cloud-init VM regenerate --new-instance-id (Debian 13's cloud-init does; Debian 12's",
    "skips a mount that is no block device). Each share is served by a virtiofsd",
    "that vm __run starts with QEMU and that ends with it; QEMU's memory is a shared memfd.",
    "Tags: letters, digits, . _ - (at most 36 bytes), one per share of the VM.",
    "exit: 0 ok, 100 usage (no such folder, not a directory, a bad or taken tag)",
  ],
} as const satisfies CommandSpec;

/** The row of `vm share list`. */
const SHARE_LIST_ROW = {
  name: "list",
  summary: "the VM's shared folders: TAG, MODE, HOSTDIR",
  args: [VM],
  options: [{ name: "json", help: "an array of {tag, path, readonly, guest_path}" }],
} as const satisfies CommandSpec;

/** The row of `vm share rm`. */
const SHARE_RM_ROW = {
  name: "rm",
  summary: "stops sharing a folder from the VM's next start",
  args: [VM, { name: "<tag>", kind: "none" }],
} as const satisfies CommandSpec;

/** The note when the VM runs: shares change at a start. */
function whenLine(name: string, c: ShareChange): string {
  return c.running ? ` (takes effect at the next start: "vm restart ${name}")` : "";
}

/** For a cloud-init VM: how its guest's boot-time mounts follow. */
function cloudLine(name: string, c: ShareChange): void {
  if (!c.cloudInit) return;
  print(
    `${name}: the guest's mounts at boot (cloud-init) follow after ` +
      `"vm cloud-init ${name} regenerate --new-instance-id"`,
  );
}

/** Runs `vm share add`. */
async function addCmd(inv: Invocation<RowOptions<typeof SHARE_ADD_ROW>>): Promise<number> {
  const [name = "", folder = ""] = inv.args;
  const dir = requireVm(loadConfig().vmdir, name);
  const tag = optString(inv, "tag");
  const guestPath = optString(inv, "guest-path");
  const c = await addShare(name, dir, {
    folder,
    readonly: optFlag(inv, "ro"),
    ...(tag === undefined ? {} : { tag }),
    ...(guestPath === undefined ? {} : { guestPath }),
  });
  const mode = c.share.readonly ? "read-only" : "read-write";
  print(
    visible(`${name}: sharing "${c.share.path}" ${mode} as tag "${c.share.tag}"`) +
      whenLine(name, c),
  );
  cloudLine(name, c);
  return 0;
}

/** Runs `vm share list`. */
function listCmd(inv: Invocation<RowOptions<typeof SHARE_LIST_ROW>>): number {
  const [name = ""] = inv.args;
  const shares = inspectDir(requireVm(loadConfig().vmdir, name)).shares;
  if (optFlag(inv, "json")) {
    print(JSON.stringify(sharesJson(shares), null, 2));
    return 0;
  }
  if (shares.length === 0) return 0;
  const rows = [
    ["TAG", "MODE", "GUEST", "HOSTDIR"],
    ...shares.map((s) => [s.tag, s.readonly ? "ro" : "rw", guestMountPoint(s), s.path]),
  ];
  print(visible(alignColumns(rows)));
  return 0;
}

/** Runs `vm share rm`. */
async function rmCmd(inv: Invocation<RowOptions<typeof SHARE_RM_ROW>>): Promise<number> {
  const [name = "", tag = ""] = inv.args;
  const dir = requireVm(loadConfig().vmdir, name);
  const c = await removeShare(name, dir, tag);
  print(visible(`${name}: no longer sharing "${c.share.path}" (tag "${tag}")`) + whenLine(name, c));
  cloudLine(name, c);
  return 0;
}

/** `vm share add|list|rm`. */
export const share = defineGroup(SHARE_ROW, [
  defineCommand(SHARE_ADD_ROW, { run: addCmd }),
  defineCommand(SHARE_LIST_ROW, { run: listCmd }),
  defineCommand(SHARE_RM_ROW, { run: rmCmd }),
]);
