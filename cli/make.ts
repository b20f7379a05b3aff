/**
 * `vm make <vm> [<iso>]`: the questions (disk size, wait, log, templates),
 * each answered by its option or skipped with `-y`; everything given is
 * checked before the first question. With `--image` the cloud image is
 * pulled (or imported) first and the disk made on it; an ISO argument may
 * name an ISO of the image catalog, pulled likewise. The work is
 * lib/actions/make.ts and lib/actions/make_image.ts.
 * @module
 */

import {
  availableTemplates,
  checkSpec,
  checkWait,
  type MakeResult,
  type MakeSpec,
  makeVm,
} from "../lib/actions/make.ts";
import {
  type ImageArg,
  makeImageDisk,
  type ResolvedImage,
  resolveImage,
  resolveIso,
} from "../lib/actions/make_image.ts";
import { loadCatalog } from "../lib/images/catalog.ts";
import type { TransferEvents } from "../lib/images/download.ts";
import { UsageError } from "../lib/errors.ts";
import { type Config, loadConfig } from "../lib/vm/config.ts";
import { checkName } from "../lib/vm/name.ts";
import { checkSize } from "../lib/text/units.ts";
import type { CommandModule, Invocation } from "./command.ts";
import { imageArch, interruptible, pullRequest } from "./image.ts";
import { print } from "./output.ts";
import { exclusive, optFlag, optString } from "./parse.ts";
import { progress } from "./progress.ts";
import { ask, confirm } from "./prompt.ts";

function words(text: string): string[] {
  return text.split(/\s+/).filter((t) => t !== "");
}

/** The spec the options give, checked; questions not asked yet. */
function specOf(inv: Invocation, cfg: Config, iso: string | undefined): MakeSpec {
  const [name = ""] = inv.args;
  checkName(name);
  exclusive(inv, "log", "no-log");
  const disk = optString(inv, "disk");
  const wait = optString(inv, "wait");
  const spec: MakeSpec = {
    name,
    disk: disk ?? cfg.defaultDrive,
    wait: wait ?? cfg.defaultWait,
    log: optFlag(inv, "log"),
    templates: words(optString(inv, "templates") ?? ""),
    defaults: cfg.defaultTemplates,
  };
  if (iso !== undefined) spec.iso = iso;
  if (disk !== undefined) checkSize(disk);
  if (wait !== undefined) checkWait(wait);
  checkSpec(cfg.vmdir, spec);
  return spec;
}

/** Asks what the options did not answer (nothing with `-y`). */
async function askRest(inv: Invocation, cfg: Config, spec: MakeSpec): Promise<void> {
  if (optFlag(inv, "yes")) return;
  const { name } = spec;
  if (optString(inv, "disk") === undefined) {
    spec.disk = (await ask(`Disk image size for ${name}? `)) || cfg.defaultDrive;
    checkSize(spec.disk);
  }
  if (optString(inv, "wait") === undefined) {
    spec.wait = (await ask(`Safe poweroff wait time for ${name}? `)) || cfg.defaultWait;
    checkWait(spec.wait);
  }
  if (!optFlag(inv, "log") && !optFlag(inv, "no-log")) spec.log = await confirm(`Log ${name}?`);
  if (optString(inv, "templates") === undefined) {
    print(`Default templates: ${cfg.defaultTemplates.join(" ")}`);
    print(`Available templates: ${availableTemplates(cfg.vmdir).join(" ")}`);
    spec.templates = words(await ask(`Templates for ${name}? `));
  }
}

/** A download (or import) with its progress line (Ctrl-C keeps what was fetched). */
async function fetching<T>(label: string, work: (ev: TransferEvents) => Promise<T>): Promise<T> {
  const p = progress(label);
  try {
    return await interruptible((signal) =>
      work({ signal, onProgress: p.update, onNotice: (text) => p.notice(`vm: ${text}`) })
    );
  } finally {
    p.clear();
  }
}

/** The ISO argument: a catalog ISO name is pulled and becomes its cached path. */
async function isoOf(inv: Invocation, cfg: Config): Promise<string | undefined> {
  const arg = inv.args[1];
  if (arg === undefined) return undefined;
  const catalog = loadCatalog(cfg);
  return (await fetching(arg, (ev) => resolveIso(cfg, catalog, arg, imageArch(cfg, inv), ev))) ??
    arg;
}

/** `--image`: the image pulled or imported now, before any question. */
function imageOf(inv: Invocation, cfg: Config): Promise<ResolvedImage> | undefined {
  const image = optString(inv, "image");
  if (image === undefined) return undefined;
  const { arch, checksum, insecure } = pullRequest(cfg, image, inv);
  const arg: ImageArg = { image, arch };
  if (checksum !== undefined) arg.checksum = checksum;
  if (insecure !== undefined) arg.insecure = insecure;
  return fetching(
    image,
    (ev) => resolveImage(cfg, loadCatalog(cfg), arg, optFlag(inv, "copy"), ev),
  );
}

/** What `vm make` says after making the VM. */
function report(cfg: Config, spec: MakeSpec, result: MakeResult): void {
  const { name } = spec;
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
}

/** `vm make`. */
export const make: CommandModule = {
  async run(inv) {
    const cfg = loadConfig();
    checkName(inv.args[0] ?? "");
    if (optString(inv, "image") !== undefined && inv.args[1] !== undefined) {
      throw new UsageError('Give an ISO or "--image", not both');
    }
    const spec = specOf(inv, cfg, await isoOf(inv, cfg));
    const image = await imageOf(inv, cfg);
    await askRest(inv, cfg, spec);
    if (image !== undefined) {
      const disk = spec.disk;
      const copy = optFlag(inv, "copy");
      spec.makeDisk = async (path) => {
        const p = progress(image.name);
        await makeImageDisk(cfg, path, image, { disk, copy, onProgress: p.update });
        p.clear();
      };
    }
    report(cfg, spec, await makeVm(cfg.vmdir, spec));
    return 0;
  },
};
