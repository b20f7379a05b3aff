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
  type MakeResult,
  type MakeSpec,
  makeVm,
} from "../../lib/actions/make.ts";
import { checkWait } from "../../lib/vm/dir.ts";
import {
  type ImageArg,
  makeImageDisk,
  type ResolvedImage,
  resolveImage,
  resolveIso,
} from "../../lib/actions/make_image.ts";
import { loadCatalog } from "../../lib/images/catalog.ts";
import type { TransferEvents } from "../../lib/images/download.ts";
import { UsageError } from "../../lib/errors.ts";
import { type Config, httpTimeouts, loadConfig } from "../../lib/vm/config.ts";
import { checkName } from "../../lib/vm/name.ts";
import { checkSize, secondsText } from "../../lib/text/units.ts";
import {
  type CommandSpec,
  defineCommand,
  type Invocation,
  type RowOptions,
} from "../core/command.ts";
import { imageArch, interruptible, MAKE_IMAGE_OPTIONS, pullRequest } from "./image.ts";
import { print } from "../core/output.ts";
import { exclusive, optFlag, optList, optString } from "../core/parse.ts";
import { progress } from "../core/progress.ts";
import { askChecked, askTextChecked, nextLine, yesNo } from "../core/prompt.ts";
import { CLOUD_MAKE_OPTIONS, cloudOptionsFor } from "./make_cloud.ts";
import {
  type CloudProvision,
  provisionCloud,
  provisionMessage,
} from "../../lib/cloud_init/provision.ts";
import { START_TIMEOUT_S, startVm } from "../../lib/actions/start_stop.ts";
import {
  applyTemplateWords,
  DROP_ALL,
  imageDefaults,
  type TemplateChoice,
} from "../../lib/vm/template_choice.ts";
import { chooseTemplates } from "../../lib/vm/templates.ts";
import { byteOrder } from "../../lib/text/byte_order.ts";

/** The row of `vm make`. */
const MAKE_ROW = {
  name: "make",
  summary: "interactively create a new VM",
  args: [{ name: "<vm>", kind: "new-vm" }, { name: "<iso>", kind: "file", optional: true }],
  options: [
    { name: "disk", value: "SIZE", help: "disk image size (qemu-img syntax, e.g. 20G)" },
    { name: "wait", value: "SECONDS", help: "seconds the guest gets to power off" },
    { name: "log", help: "log QEMU's output to log/main/current" },
    { name: "no-log", help: "do not log" },
    {
      name: "templates",
      value: '"a b"',
      complete: "templates",
      help: "templates on top of the defaults (mem-4g replaces mem); -name drops\n" +
        'a default, -* all of them: "-vnc +serial-console"; serial-console\n' +
        "adds the console socket of vm console",
    },
    { name: "no-default-templates", help: "start from no template (VMCONF_DEFAULT_TEMPLATES)" },
    {
      name: "net",
      value: "NAME",
      repeat: true,
      help: "a NIC on private network NAME (vm net create), with a free address that stays",
    },
    { name: "no-nat", help: "without the user-mode NIC (internet, port forwards): --net only" },
    { name: "yes", short: "y", help: "take the default for every question not answered" },
    ...MAKE_IMAGE_OPTIONS,
    ...CLOUD_MAKE_OPTIONS,
  ],
  help: [
    "asks for the disk size, the power-off wait, logging and templates (one answer per line",
    "on stdin; empty = the default shown in brackets); each option answers its question",
    "without asking it. Input that ends before the last answer makes nothing (exit 100).",
    "On a terminal a bad answer is said and asked again; on a pipe it ends vm make (exit",
    "100). With --image five more questions follow, unless their options answer them: the",
    "guest's user, SSH public key files (*.pub) that may log in, host name, a password",
    "(y/N, then asked twice) and Debian packages to install at first boot.",
    "The VM is made down; with an ISO (a file, or an ISO of the image catalog: vm image",
    "list) it boots once from it when vmd runs, and vm make waits until QEMU runs (vm vnc",
    "shows the installer). Without an ISO it stays down: start it with vm start. With",
    "--image the disk is a qcow2 overlay on the cloud image (pulled into $VMDIR/.images",
    "first), --disk SIZE at least its size",
  ],
} as const satisfies CommandSpec;

/** What `vm make` runs with: its options typed from its row. */
type MakeInvocation = Invocation<RowOptions<typeof MAKE_ROW>>;

function words(text: string): string[] {
  return text.split(/\s+/).filter((t) => t !== "");
}

/** The defaults left and templates added by `--templates` (and `--no-default-templates`). */
function templateChoice(inv: MakeInvocation, cfg: Config, answer?: string): TemplateChoice {
  const available = availableTemplates(cfg.vmdir);
  let defaults = optFlag(inv, "no-default-templates") ? [] : cfg.defaultTemplates;
  if (optString(inv, "image") !== undefined) defaults = imageDefaults(defaults, available);
  const given = words(optString(inv, "templates") ?? answer ?? "");
  return applyTemplateWords(defaults, given, available);
}

/** The spec the options give, checked; questions not asked yet. */
function specOf(inv: MakeInvocation, cfg: Config, iso: string | undefined): MakeSpec {
  const [name = ""] = inv.args;
  checkName(name);
  exclusive(inv, "log", "no-log");
  const disk = optString(inv, "disk");
  const wait = optString(inv, "wait");
  const choice = templateChoice(inv, cfg);
  const spec: MakeSpec = {
    name,
    disk: disk ?? cfg.defaultDrive,
    wait: wait ?? cfg.defaultWait,
    log: optFlag(inv, "log"),
    templates: choice.chosen,
    defaults: choice.defaults,
  };
  if (iso !== undefined) spec.iso = iso;
  const nets = optList(inv, "net");
  if (nets.length > 0) spec.nets = nets;
  if (optFlag(inv, "no-nat")) {
    if (optString(inv, "image") !== undefined) {
      throw new UsageError(
        '"--no-nat" would leave an --image VM without SSH (vm ssh): leave it out',
      );
    }
    spec.noNat = true;
  }
  if (disk !== undefined) checkSize(disk);
  if (wait !== undefined) checkWait(wait);
  checkSpec(cfg.vmdir, spec);
  return spec;
}

/**
 * Asks what the options did not answer (nothing with `-y`), each question
 * with its default; a bad answer is asked again on a terminal (cli/core/prompt.ts);
 * the end of input aborts (UsageError) before anything is made.
 */
async function askRest(inv: MakeInvocation, cfg: Config, spec: MakeSpec): Promise<void> {
  if (optFlag(inv, "yes")) return;
  const { name } = spec;
  const abort = `VM "${name}" was not created`;
  if (optString(inv, "disk") === undefined) {
    const q = `Disk image size for ${name}?`;
    spec.disk = await askChecked(q, spec.disk, abort, (a) => checkSize(a || spec.disk));
  }
  if (optString(inv, "wait") === undefined) {
    const q = `Safe poweroff wait time for ${name}?`;
    spec.wait = await askChecked(q, `${spec.wait} s`, abort, (a) => checkWait(a || spec.wait));
  }
  if (!optFlag(inv, "log") && !optFlag(inv, "no-log")) {
    spec.log = await askChecked(`Log ${name}?`, "y/N", abort, yesNo);
  }
  if (optString(inv, "templates") === undefined) {
    const available = availableTemplates(cfg.vmdir);
    print(`Available templates: ${available.join(" ")}`);
    print(`(name or +name adds one, -name drops a default, ${DROP_ALL} drops every default)`);
    const shown = spec.defaults.length > 0 ? spec.defaults.join(" ") : "no defaults";
    const choice = await askChecked(`Templates for ${name}?`, shown, abort, (answer) => {
      const c = templateChoice(inv, cfg, answer);
      chooseTemplates(c.defaults, c.chosen, available);
      return c;
    });
    spec.templates = choice.chosen;
    spec.defaults = choice.defaults;
    checkSpec(cfg.vmdir, spec);
  }
}

/** A download (or import) with its progress line (Ctrl-C keeps what was fetched). */
async function fetching<T>(
  label: string,
  cfg: Config,
  work: (ev: TransferEvents) => Promise<T>,
): Promise<T> {
  const p = progress(label);
  const timeouts = httpTimeouts(cfg.env);
  try {
    return await interruptible((signal) =>
      work({ signal, timeouts, onProgress: p.update, onNotice: (t) => p.notice(`vm: ${t}`) })
    );
  } finally {
    p.clear();
  }
}

/** The ISO argument: a catalog ISO name is pulled and becomes its cached path. */
async function isoOf(inv: MakeInvocation, cfg: Config): Promise<string | undefined> {
  const arg = inv.args[1];
  if (arg === undefined) return undefined;
  const catalog = loadCatalog(cfg);
  const arch = imageArch(cfg, inv);
  return (await fetching(arg, cfg, (ev) => resolveIso(cfg, catalog, arg, arch, ev))) ?? arg;
}

/** `--image`: the image pulled or imported now, before any question. */
function imageOf(inv: MakeInvocation, cfg: Config): Promise<ResolvedImage> | undefined {
  const image = optString(inv, "image");
  if (image === undefined) return undefined;
  const { arch, checksum, insecure } = pullRequest(cfg, image, inv);
  const arg: ImageArg = { image, arch };
  if (checksum !== undefined) arg.checksum = checksum;
  if (insecure !== undefined) arg.insecure = insecure;
  return fetching(
    image,
    cfg,
    (ev) => resolveImage(cfg, loadCatalog(cfg), arg, optFlag(inv, "copy"), ev),
  );
}

/** How to watch a VM that boots an installer: its VNC or serial console, by its templates. Pure. */
export function watchHint(name: string, templates: readonly string[]): string {
  const ways = [
    ...(templates.includes("vnc") ? [`"vm vnc ${name}" shows its screen`] : []),
    ...(templates.includes("serial-console") ? [`"vm console ${name}" its serial console`] : []),
  ];
  return ways.length > 0 ? `; ${ways.join(", ")}` : "";
}

/**
 * What `vm make` says after making the VM (with the templates cloud-init
 * added, for an `--image` VM), and, with an ISO and vmd running, the one
 * start from the ISO (waited for until QEMU is up).
 */
async function startOrSay(
  cfg: Config,
  spec: MakeSpec,
  result: MakeResult,
  cloud: CloudProvision | undefined,
): Promise<void> {
  const { name } = spec;
  const templates = [...result.templates, ...cloud?.templates ?? []].sort(byteOrder);
  print(`Created VM "${name}" in "${result.dir}" (templates: ${templates.join(" ")})`);
  const start = spec.iso !== undefined
    ? `"vm start ${name}" (boots the ISO once)`
    : cloud !== undefined
    ? `"vm start ${name} --ssh" (waits until it answers SSH)`
    : `"vm start ${name}"`;
  if (!result.vmdRunning) {
    print(
      `It is down: vmd is not running for "${cfg.vmdir}"; start it with "vm daemon" ` +
        `(or "runsvdir ${cfg.vmdir}"), then ${start}`,
    );
  } else if (spec.iso === undefined) {
    print(`It is down; start it with ${start}`);
  } else if (!result.supervised) {
    print(`vmd did not pick up "${name}" within 7 s; start it with ${start}`);
  } else {
    const r = await startVm(name, result.dir, START_TIMEOUT_S, "o");
    print(
      `Started "${name}" once from the ISO in ${secondsText(r.seconds)} (pid ${r.pid})` +
        watchHint(name, result.templates),
    );
  }
}

/** `vm make`. */
export const make = defineCommand(MAKE_ROW, {
  async run(inv) {
    const cfg = loadConfig();
    checkName(inv.args[0] ?? "");
    if (optString(inv, "image") !== undefined && inv.args[1] !== undefined) {
      throw new UsageError('Give an ISO or "--image", not both');
    }
    const spec = specOf(inv, cfg, await isoOf(inv, cfg));
    const image = await imageOf(inv, cfg);
    await askRest(inv, cfg, spec);
    const interactive = !optFlag(inv, "yes");
    const cloud = await cloudOptionsFor(
      inv,
      spec.name,
      image !== undefined,
      interactive ? (q, check) => askTextChecked(q, "nothing was made", check) : undefined,
      interactive ? nextLine : undefined,
    );
    let provisioned: CloudProvision | undefined;
    if (cloud !== undefined) {
      spec.populate = async (dir) => {
        provisioned = await provisionCloud(cfg.vmdir, dir, spec.name, cloud);
      };
    }
    if (image !== undefined) {
      const disk = spec.disk;
      const copy = optFlag(inv, "copy");
      spec.makeDisk = async (path) => {
        const p = progress(image.name);
        await makeImageDisk(cfg, path, image, { disk, copy, onProgress: p.update });
        p.clear();
      };
    }
    const result = await makeVm(cfg.vmdir, spec);
    if (provisioned !== undefined) print(provisionMessage(spec.name, provisioned));
    await startOrSay(cfg, spec, result, provisioned);
    return 0;
  },
});
