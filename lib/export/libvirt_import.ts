/**
 * `vm import libvirt <domain> [<vm>] [--copy]`: a VM from a defined libvirt
 * domain. Reads the domain (`virsh dumpxml`: its `wait` from our
 * `<metadata>` when present, else the configured default) and the QEMU
 * command line libvirt would run (`virsh domxml-to-native qemu-argv`), which
 * libvirt_import_args.ts turns into two templates: `templates/drive` (the
 * drives) and `templates/libvirt` (the rest), one option per line. Disks
 * stay where they are, or with `copy` are copied into the VM directory
 * (`qemu-img convert`, same format, backing chain flattened) and named
 * `./<file>`. The domain must be shut off: its disks must not be used twice.
 * Each disk is checked first (lib/qemu/image_check.ts): raw or qcow2, no
 * external data file, backing files only beside it or in the image cache.
 * Arguments that reach the host are left commented out in the template
 * unless `trust` (import_trust.ts). The VM is assembled under a dot-name and
 * made down (assemble.ts). The domain's arch becomes the VM's `arch` file, its UEFI variable
 * store (`<nvram>`) the VM's `efivars.fd` (a copy), its emulated TPM a new `tpm/` for swtpm
 * (libvirt's TPM state stays libvirt's).
 * Runs `virsh` and `qemu-img`; writes `$VMDIR/<vm>/`. Area lib/export, at the level of actions.
 * @module
 */

import { basename, dirname, join } from "../os/path.ts";
import { exists, makeDir, writeFileAtomic } from "../os/fs.ts";
import { hostArch, isArch } from "../qemu/arch.ts";
import { findFirmware } from "../qemu/firmware.ts";
import { CheckFailedError, VmExistsError } from "../errors.ts";
import { checkWait, vmPath } from "../vm/dir.ts";
import type { Config } from "../vm/config.ts";
import { F } from "../layout.ts";
import { checkName } from "../vm/name.ts";
import { convertImage, imageInfo } from "../qemu/img.ts";
import { inspectImage } from "../qemu/image_check.ts";
import { imagesDir } from "../images/store.ts";
import { quoteWords } from "../text/shell_words.ts";
import { parseXml, type XmlElement } from "./xml.ts";
import { waitFromMetadata } from "./libvirt_xml.ts";
import { importArgs, type ImportedArgs, splitNativeArgv } from "./libvirt_import_args.ts";
import { assembleVm } from "./assemble.ts";
import { interfaceBackends } from "./libvirt_import_net.ts";
import { virsh } from "./virsh.ts";

/** Choices of `vm import libvirt`. */
export interface LibvirtImportOptions {
  /** The new VM's name (default: the domain's). */
  name?: string;
  /** Copy the disks into the VM directory. */
  copy: boolean;
  /** libvirt connection URI (`virsh -c`). */
  connect?: string;
  /** Keep arguments that reach the host (`-incoming`, `-plugin`, `-sandbox off`…). */
  trust?: boolean;
  /** Called after each disk copied. */
  onProgress?: (done: number, total?: number) => void;
}

/** What `vm import libvirt` made. */
export interface LibvirtImportResult {
  name: string;
  dir: string;
  wait: number;
  /** Disks as the templates name them (absolute, or `./file` when copied). */
  disks: string[];
  dropped: ImportedArgs["dropped"];
  untrusted: ImportedArgs["untrusted"];
}

/**
 * The text of a template holding `lines`, one option per line, under a
 * comment, then `disabled` commented out (`# untrusted: …`). Pure.
 */
export function templateText(
  comment: string,
  lines: readonly string[][],
  disabled: readonly string[][] = [],
): string {
  const off = disabled.map((l) => `# untrusted: ${quoteWords(l).replaceAll("\n", "\n# ")}\n`);
  return `# ${comment}\n` + lines.map((l) => quoteWords(l) + "\n").join("") + off.join("");
}

/**
 * Checks each disk the domain uses (lib/qemu/image_check.ts) before vm uses
 * or copies it: backing files only in its own directory or `cache`. Throws
 * UnsafeImageError. Runs qemu-img info.
 */
async function checkDisks(disks: readonly string[], cache: string): Promise<void> {
  for (const d of new Set(disks)) await inspectImage(d, { backingDirs: [dirname(d), cache] });
}

/** New names in the VM directory for disks copied in: their file names, made unique. Pure. */
export function copyNames(disks: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  // The names vm gives to files of the VM directory, but for the disk's own name.
  const used = new Set<string>(
    Object.values(F).map((f) => f.split("/")[0] ?? "").filter((f) => f !== F.drive),
  );
  for (const d of disks) {
    if (out.has(d)) continue;
    let name = basename(d);
    for (let i = 1; used.has(name); i++) name = `${i}-${basename(d)}`;
    used.add(name);
    out.set(d, `./${name}`);
  }
  return out;
}

/** The architecture of `<os><type arch=…>` when vm knows it (the VM's `arch` file). Pure. */
export function archOf(domain: XmlElement): string | undefined {
  const child = (e: XmlElement | undefined, name: string) =>
    e?.children.find((c): c is XmlElement => typeof c !== "string" && c.name === name);
  const arch = child(child(domain, "os"), "type")?.attrs.arch;
  return arch !== undefined && isArch(arch) ? arch : undefined;
}

/**
 * The variable store the VM's `efivars.fd` is copied from: libvirt's (`nvram`, from its command
 * line), else, when libvirt has not made it yet (it does at the domain's first start), the
 * domain's `<nvram template=…>`, else the template of QEMU's firmware descriptors; undefined
 * without UEFI. Reads their existence and the descriptors.
 */
function nvramSource(
  nvram: string | undefined,
  domain: XmlElement,
  arch: string | undefined,
  argv: readonly string[],
): string | undefined {
  if (nvram === undefined) return undefined;
  if (exists(nvram)) return nvram;
  const os = domain.children.find((c): c is XmlElement => typeof c !== "string" && c.name === "os");
  const tmpl = os?.children.find((c): c is XmlElement =>
    typeof c !== "string" && c.name === "nvram"
  )?.attrs.template;
  if (tmpl !== undefined && exists(tmpl)) return tmpl;
  const secureBoot = argv.some((a) => a.includes("cfi.pflash01,property=secure,value=on"));
  return findFirmware({ arch: arch ?? hostArch(), secureBoot }).varsTemplate;
}

/** Throws unless domain `domain` is shut off. Runs `virsh domstate`. */
async function checkShutOff(domain: string, connect?: string): Promise<void> {
  const state = (await virsh(["domstate", domain], connect)).trim();
  if (state !== "shut off") {
    throw new CheckFailedError(
      `Domain "${domain}" is ${state}; shut it down first ("virsh shutdown ${domain}"): ` +
        "its disks must not be used by libvirt and vm at once",
    );
  }
}

/** Imports libvirt domain `domain` as a new VM (see the module doc). */
export async function importLibvirt(
  cfg: Config,
  domain: string,
  opts: LibvirtImportOptions,
): Promise<LibvirtImportResult> {
  const name = checkName(opts.name ?? domain);
  if (exists(vmPath(cfg.vmdir, name))) throw new VmExistsError(name, cfg.vmdir);
  await checkShutOff(domain, opts.connect);
  const xml = parseXml(await virsh(["dumpxml", domain], opts.connect));
  const wait = waitFromMetadata(xml) ?? Number(checkWait(cfg.defaultWait));
  const arch = archOf(xml);
  const argv = splitNativeArgv(
    await virsh(["domxml-to-native", "qemu-argv", "--domain", domain], opts.connect),
  );
  const nets = interfaceBackends(xml);
  const trust = opts.trust === true;
  const first = importArgs(argv, { nets, trust });
  await checkDisks(first.disks, imagesDir(cfg.vmdir));
  const copies = opts.copy ? copyNames(first.disks) : new Map<string, string>();
  const args = opts.copy ? importArgs(argv, { copies, nets, trust }) : first;
  const dir = await assembleVm(cfg.vmdir, name, "import", async (tmp) => {
    Deno.mkdirSync(join(tmp, F.templates), { mode: 0o700 });
    let done = 0;
    for (const [from, to] of copies) {
      await convertImage(from, join(tmp, to), (await imageInfo(from)).format);
      opts.onProgress?.(++done, copies.size);
    }
    const what = `imported from libvirt domain "${domain}" (virsh domxml-to-native)`;
    writeFileAtomic(join(tmp, F.templates, "drive"), templateText(what, args.drives), 0o600);
    const rest = templateText(what, args.rest, args.disabled);
    writeFileAtomic(join(tmp, F.templates, "libvirt"), rest, 0o600);
    writeFileAtomic(join(tmp, F.wait), `${wait}\n`, 0o600);
    if (arch !== undefined) writeFileAtomic(join(tmp, F.arch), `${arch}\n`, 0o600);
    // The domain's UEFI variable store becomes the VM's own; its TPM a new swtpm state.
    const vars = nvramSource(args.nvram, xml, arch, argv);
    if (vars !== undefined) writeFileAtomic(join(tmp, F.efivars), Deno.readFileSync(vars), 0o600);
    if (args.tpm) makeDir(join(tmp, F.tpmState));
    return tmp;
  });
  return {
    name,
    dir,
    wait,
    disks: first.disks.map((d) => copies.get(d) ?? d),
    dropped: args.dropped,
    untrusted: args.untrusted,
  };
}
