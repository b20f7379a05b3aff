/**
 * The machine of a VM in a libvirt domain (lib/vm/machine.ts's templates): UEFI's two pflash
 * drives as `<os firmware='efi'>` (libvirt picks the code image from QEMU's descriptors by the
 * `<firmware>` features `secure-boot` and `enrolled-keys`, as vm did), `<loader secure='yes'>` and
 * `<nvram>` (the VM's own `efivars.fd`); `-global
 * driver=cfi.pflash01,property=secure,value=on` as the loader's `secure='yes'`; `smm=on` of
 * `-machine` as `<features><smm state='on'/>`; swtpm's `-chardev socket` of `supervise/tpm`,
 * its `-tpmdev emulator` and `-device tpm-crb|tpm-tis|tpm-tis-device` as `<tpm model=…>` with
 * an emulator backend, version 2.0 (libvirt runs its own swtpm, its state in libvirt's
 * directory: the VM's `tpm/` does not go with it). Pure. Area lib/export, at the level of
 * actions.
 * @module
 */

import { el, type XmlElement } from "./xml.ts";
import { leadWord, type OptionGroup, optsOf } from "./qemu_options.ts";
import { abs, type LibvirtCtx, open, take } from "./libvirt_ctx.ts";
import { optGet } from "../qemu/opt_list.ts";
import { F } from "../layout.ts";

/** The `<os>` attributes and children of the VM's UEFI, or undefined without pflash drives. */
export interface EfiOs {
  attrs: Record<string, string>;
  children: (XmlElement | undefined)[];
}

/** Whether `-global driver=cfi.pflash01,property=secure,value=on` is among the groups. */
function securePflash(ctx: LibvirtCtx): OptionGroup | undefined {
  return open(ctx, "-global").find((g) => {
    const o = optsOf(g);
    return optGet(o, "driver") === "cfi.pflash01" && optGet(o, "property") === "secure" &&
      optGet(o, "value") === "on";
  });
}

/**
 * UEFI's pflash drives (unit 0 the code, read-only; unit 1 the variable store) as `<os>`'s
 * attributes and `<loader>`/`<nvram>`; undefined when the VM has none or they are not that
 * pair (they then stay on the command line).
 */
export function mapEfi(ctx: LibvirtCtx): EfiOs | undefined {
  const flashes = open(ctx, "-drive").filter((g) => optGet(optsOf(g), "if") === "pflash");
  if (flashes.length !== 2) return undefined;
  const unit = (g: OptionGroup) => optGet(optsOf(g), "unit") ?? String(flashes.indexOf(g));
  const code = flashes.find((g) => unit(g) === "0");
  const vars = flashes.find((g) => unit(g) === "1");
  const file = (g: OptionGroup | undefined) =>
    g === undefined ? undefined : optGet(optsOf(g), "file");
  const codePath = file(code);
  const varsPath = file(vars);
  if (codePath === undefined || codePath === "" || varsPath === undefined) return undefined;
  const secure = securePflash(ctx) !== undefined;
  take(ctx, ...flashes, securePflash(ctx));
  // libvirt picks the code image from QEMU's descriptors by these features, as vm did (a path
  // with firmware='efi' is refused by libvirt 9); the variable store is the VM's own.
  const features = [
    el("feature", { enabled: secure ? "yes" : "no", name: "enrolled-keys" }),
    el("feature", { enabled: secure ? "yes" : "no", name: "secure-boot" }),
  ];
  return {
    attrs: { firmware: "efi" },
    children: [
      el("firmware", {}, ...features),
      // secure='no' is refused by libvirt 9 with firmware='efi'; the features say it.
      secure ? el("loader", { secure: "yes" }) : undefined,
      // The VM's file itself (libvirt 9 refuses a template with firmware='efi'): `virsh
      // undefine` must keep it (--keep-nvram), as --nvram deletes it.
      el("nvram", {}, abs(ctx, varsPath)),
    ],
  };
}

/** Whether a `-machine` asks for `smm=on` (the option itself stays: lib/export/libvirt_xml.ts). */
export function smmOn(groups: readonly OptionGroup[]): boolean {
  return groups.some((g) =>
    (g.opt === "-machine" || g.opt === "-M") && optGet(optsOf(g), "smm") === "on"
  );
}

/** The TPM device models libvirt knows, by QEMU's device name. */
const TPM_MODELS: Readonly<Record<string, string>> = {
  "tpm-crb": "tpm-crb",
  "tpm-tis": "tpm-tis",
  "tpm-tis-device": "tpm-tis-device",
};

/**
 * swtpm's socket, its `-tpmdev emulator` and the TPM device as `<tpm>`; the groups taken.
 * Undefined when the VM has no such TPM.
 */
export function mapTpm(ctx: LibvirtCtx): XmlElement | undefined {
  const chardev = open(ctx, "-chardev").find((g) => {
    const o = optsOf(g);
    return leadWord(o, "backend") === "socket" &&
      (optGet(o, "path") ?? "").replace(/^\.\//, "") === F.tpmSocket;
  });
  const id = chardev === undefined ? undefined : optGet(optsOf(chardev), "id");
  const tpmdev = open(ctx, "-tpmdev").find((g) => {
    const o = optsOf(g);
    return leadWord(o) === "emulator" && optGet(o, "chardev") === id;
  });
  const tpmId = tpmdev === undefined ? undefined : optGet(optsOf(tpmdev), "id");
  const device = open(ctx, "-device").find((g) => {
    const o = optsOf(g);
    return TPM_MODELS[leadWord(o, "driver") ?? ""] !== undefined && optGet(o, "tpmdev") === tpmId;
  });
  if (chardev === undefined || tpmdev === undefined || device === undefined) return undefined;
  take(ctx, chardev, tpmdev, device);
  const model = TPM_MODELS[leadWord(optsOf(device), "driver") ?? ""] ?? "tpm-crb";
  return el("tpm", { model }, el("backend", { type: "emulator", version: "2.0" }));
}
