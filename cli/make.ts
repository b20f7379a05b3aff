/**
 * `vm make <vm> [<iso>]`: the questions (disk size, wait, log, templates),
 * each answered by its option or skipped with `-y`; everything given is
 * checked before the first question. The work is lib/actions/make.ts.
 * @module
 */

import {
  availableTemplates,
  checkSpec,
  checkWait,
  type MakeSpec,
  makeVm,
} from "../lib/actions/make.ts";
import { loadConfig } from "../lib/vm/config.ts";
import { checkName } from "../lib/vm/name.ts";
import { checkSize } from "../lib/text/units.ts";
import type { CommandModule } from "./command.ts";
import { print } from "./output.ts";
import { exclusive, optFlag, optString } from "./parse.ts";
import { ask, confirm } from "./prompt.ts";

function words(text: string): string[] {
  return text.split(/\s+/).filter((t) => t !== "");
}

/** `vm make`. */
export const make: CommandModule = {
  async run(inv) {
    const [name = "", iso] = inv.args;
    checkName(name);
    exclusive(inv, "log", "no-log");
    const cfg = loadConfig();
    const disk = optString(inv, "disk");
    const wait = optString(inv, "wait");
    const templates = optString(inv, "templates");
    const yes = optFlag(inv, "yes");
    const spec: MakeSpec = {
      name,
      disk: disk ?? cfg.defaultDrive,
      wait: wait ?? cfg.defaultWait,
      log: optFlag(inv, "log"),
      templates: words(templates ?? ""),
      defaults: cfg.defaultTemplates,
    };
    if (iso !== undefined) spec.iso = iso;
    if (disk !== undefined) checkSize(disk);
    if (wait !== undefined) checkWait(wait);
    checkSpec(cfg.vmdir, spec);
    if (disk === undefined && !yes) {
      spec.disk = (await ask(`Disk image size for ${name}? `)) || cfg.defaultDrive;
      checkSize(spec.disk);
    }
    if (wait === undefined && !yes) {
      spec.wait = (await ask(`Safe poweroff wait time for ${name}? `)) || cfg.defaultWait;
      checkWait(spec.wait);
    }
    if (!optFlag(inv, "log") && !optFlag(inv, "no-log") && !yes) {
      spec.log = await confirm(`Log ${name}?`);
    }
    if (templates === undefined && !yes) {
      print(`Default templates: ${cfg.defaultTemplates.join(" ")}`);
      print(`Available templates: ${availableTemplates(cfg.vmdir).join(" ")}`);
      spec.templates = words(await ask(`Templates for ${name}? `));
    }
    const result = await makeVm(cfg.vmdir, spec);
    print(`Created VM "${name}" in "${result.dir}" (templates: ${result.templates.join(" ")})`);
    if (result.started) {
      print(`Started "${name}" once; "vm sv status ${name}" shows it`);
    } else if (result.vmdRunning) {
      print(`vmd did not pick up "${name}" within 7 s; start it with "vm sv once ${name}"`);
    } else {
      print(
        `vmd is not running for "${cfg.vmdir}"; start it with "vm daemon" ` +
          `(or "runsvdir ${cfg.vmdir}"), then "vm sv once ${name}"`,
      );
    }
    return 0;
  },
};
