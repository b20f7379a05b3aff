/**
 * `vm cloud-init <vm> regenerate [--new-instance-id]`: rebuilds the VM's
 * `seed.iso` from its edited sources in `<vm>/cloud-init/`. The guest reads
 * it at its next boot; cloud-init applies per-instance settings (users,
 * keys, packages) again only with a new instance-id. vm's SSH key of this
 * VMDIR is added to user-data first when it lacks it (a VM moved here).
 * @module
 */

import { UsageError } from "../../lib/errors.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { authorizeVmKey, noKeyListText, regenerateSeed } from "../../lib/cloud_init/seed_file.ts";
import {
  type CommandSpec,
  defineCommand,
  type Invocation,
  type RowOptions,
  VM,
} from "../core/command.ts";
import { print } from "../core/output.ts";
import { optFlag } from "../core/parse.ts";

/** The row of `vm cloud-init`. */
const CLOUD_INIT_ROW = {
  name: "cloud-init",
  summary: "rebuild the VM's cloud-init seed (seed.iso) after editing its sources",
  args: [VM, { name: "regenerate", kind: ["regenerate"] }],
  options: [{
    name: "new-instance-id",
    help: "a new instance-id: cloud-init runs its per-instance modules (users, keys,\n" +
      "packages) again at the next boot",
  }],
  help: [
    "the sources are in <vm>/cloud-init/: meta-data, user-data (vm's #cloud-config),",
    "extra-user-data (yours, from --cloud-init) and network-config when present;",
    "vm's SSH key of this VMDIR is added to user-data when it lacks it (a VM moved",
    "here from another VMDIR): the guest takes it with --new-instance-id",
    "exit: 0 ok, 100 the VM has no cloud-init sources or they are not user-data",
  ],
} as const satisfies CommandSpec;

/** Runs `vm cloud-init`. */
async function run(inv: Invocation<RowOptions<typeof CLOUD_INIT_ROW>>): Promise<number> {
  const [name, action] = inv.args;
  if (name === undefined || action !== "regenerate" || inv.args.length > 2) {
    throw new UsageError(`Usage: vm cloud-init <vm> regenerate [--new-instance-id]`);
  }
  const { vmdir } = loadConfig();
  const dir = requireVm(vmdir, name);
  const auth = await authorizeVmKey(vmdir, dir);
  const keyAdded = auth.result === "added";
  const r = await regenerateSeed(dir, optFlag(inv, "new-instance-id"));
  if (keyAdded) print(`${name}: vm's SSH key (of "${vmdir}") added to cloud-init/user-data`);
  if (auth.result === "no-list") print(noKeyListText(name, auth.key));
  print(
    `${name}: seed.iso rewritten with instance-id ${r.instanceId} ` +
      (r.newInstanceId
        ? "(new: cloud-init sets up users, keys and packages again at the next boot)"
        : "(kept: at the next boot cloud-init reads it, per-instance settings stay as they are)"),
  );
  if (keyAdded && !r.newInstanceId) {
    print(
      `${name}: the guest takes the new key only with a new instance-id: ` +
        `vm cloud-init ${name} regenerate --new-instance-id`,
    );
  }
  return 0;
}

/** `vm cloud-init`. */
export const cloudInit = defineCommand(CLOUD_INIT_ROW, { run });
