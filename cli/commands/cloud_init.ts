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
import type { Invocation } from "../core/command.ts";
import { print } from "../core/output.ts";
import { optFlag } from "../core/parse.ts";

/** Runs `vm cloud-init`. */
export async function run(inv: Invocation): Promise<number> {
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
