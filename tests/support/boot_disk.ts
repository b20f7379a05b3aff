/**
 * Test support: a bootable disk image of the test guest (./guest.ts), to
 * stand for a cloud image: a FAT file system holding the guest's kernel and
 * initramfs with SYSLINUX in its boot sector (no partition table), so
 * SeaBIOS boots it from the first disk and the guest prints GUEST-READY on
 * the serial console. Built with the Debian packages syslinux, mtools and
 * dosfstools (mkfs.fat, mcopy, syslinux --install work on the image file,
 * no mount). Not a test file.
 * @module
 */

import { join } from "node:path";
import { guestAppend, type TestGuest } from "./guest.ts";

const HINT = "install the Debian packages syslinux, syslinux-common, mtools and dosfstools";

async function tool(cmd: string, args: string[], cwd: string): Promise<void> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, cwd, stdin: "null" }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`boot disk: ${cmd} not found; ${HINT}`);
    throw e;
  }
  if (!out.success) {
    throw new Error(
      `boot disk: ${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

/**
 * Writes `<dir>/boot.qcow2`: the guest on a bootable FAT disk (sized for the
 * kernel and initramfs plus 4 MiB); returns its path.
 */
export async function bootDisk(guest: TestGuest, dir: string): Promise<string> {
  const raw = join(dir, "boot.img");
  const mib = Math.ceil(
    (Deno.statSync(guest.kernel).size + Deno.statSync(guest.initrd).size) / (1 << 20),
  ) + 4;
  Deno.writeTextFileSync(
    join(dir, "syslinux.cfg"),
    `DEFAULT guest\nPROMPT 0\nTIMEOUT 0\nLABEL guest\n  KERNEL bzImage\n  INITRD initrd\n` +
      `  APPEND ${guestAppend()}\n`,
  );
  Deno.copyFileSync(guest.kernel, join(dir, "bzImage"));
  Deno.copyFileSync(guest.initrd, join(dir, "initrd"));
  await tool("mkfs.fat", ["-C", raw, String(mib * 1024)], dir);
  await tool("mcopy", ["-i", raw, "bzImage", "initrd", "syslinux.cfg", "::/"], dir);
  await tool("syslinux", ["--install", raw], dir);
  const disk = join(dir, "boot.qcow2");
  await tool("qemu-img", ["convert", "-q", "-f", "raw", "-O", "qcow2", raw, disk], dir);
  for (const f of ["boot.img", "bzImage", "initrd", "syslinux.cfg"]) Deno.removeSync(join(dir, f));
  return disk;
}
