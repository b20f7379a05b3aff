/**
 * Test support: a VM directory booting the cached cloud-init guest
 * (./cloud_guest.ts) from a qcow2 overlay, with cloud-init set up by
 * lib/cloud_init/provision.ts as `vm make --image` will. Shared by
 * tests/e2e/cloud_init_test.ts and bench/boot_ssh.ts. Not a test file.
 * @module
 */

import assert from "node:assert/strict";
import { type CloudMakeOptions, provisionCloud } from "../../lib/cloud_init/provision.ts";
import { quoteWords } from "../../lib/text/shell_words.ts";
import { type CloudGuest, cloudGuest, cloudGuestArgs } from "./cloud_guest.ts";
import { run, type TestEnv } from "./harness.ts";
import { ImageServer, sha256Sums } from "./image_server.ts";

/** A cloud VM made for a test. */
export interface CloudVm {
  dir: string;
  sshPort: number;
  guest: CloudGuest;
}

/** An overlay on the guest's disk at `path` (qcow2, backing file the cached image). */
export async function overlay(g: CloudGuest, path: string): Promise<void> {
  const r = await run("qemu-img", [
    "create",
    "-q",
    "-f",
    "qcow2",
    "-b",
    g.disk,
    "-F",
    "qcow2",
    path,
  ]);
  assert.equal(r.code, 0, r.stderr);
}

/**
 * Makes VM `name` (down, logging, `wait` seconds) whose `boot` template
 * boots the guest (`dbus` variant or not) from an overlay, serial console
 * appended to `<vm>/guest.log`; then provisionCloud with user `vm` and only
 * vm's own key unless `cloud` says otherwise. Call it while no runsvdir
 * runs on the VMDIR: with a vmd, `vm make` starts the new VM once at once.
 */
export async function makeCloudVm(
  t: TestEnv,
  name: string,
  opts: { dbus?: boolean; wait?: number; cloud?: CloudMakeOptions } = {},
): Promise<CloudVm> {
  const guest = await cloudGuest({ dbus: opts.dbus ?? false });
  const r = await t.vm(
    ["make", name, "--disk", "16M", "--wait", String(opts.wait ?? 30), "--log", "--yes"],
    { env: { VMCONF_DEFAULT_TEMPLATES: "display-none" } },
  );
  assert.equal(r.code, 0, r.stderr);
  const dir = t.dir(name);
  Deno.removeSync(`${dir}/drive.qcow2`);
  await overlay(guest, `${dir}/drive.qcow2`);
  // "boot" sorts before "cloud-init": the root disk is the first virtio disk, /dev/vda.
  const serial = ["-chardev", "file,id=ser0,path=guest.log,append=on", "-serial", "chardev:ser0"];
  Deno.writeTextFileSync(
    `${dir}/templates/boot`,
    quoteWords([...cloudGuestArgs(guest, "./drive.qcow2"), ...serial]) + "\n",
  );
  const p = await provisionCloud(t.vmdir, dir, name, { user: "vm", sshKeys: [], ...opts.cloud });
  return { dir, sshPort: p.sshPort, guest };
}

/**
 * Makes VM `name` the way a user does, from the image to SSH: the cached
 * guest's disk is served over HTTP on 127.0.0.1 with a SHA256SUMS file and
 * entered in the user's catalog as `cloud-guest`; then `vm make <name>
 * --image cloud-guest --user vm --ssh-key <key>` pulls it, verifies it,
 * makes the overlay and sets up cloud-init. Only the `boot` template (the
 * guest's kernel: the image has no boot loader) is added by hand, with the
 * disk unless `defaults` (VMCONF_DEFAULT_TEMPLATES, default "display-none")
 * has a drive template (`drive` becomes `drive-virtio` for --image). Returns
 * the VM and stops the server when `use` is done. Call it while no runsvdir
 * runs on the VMDIR.
 */
export async function withPulledCloudVm<T>(
  t: TestEnv,
  name: string,
  opts: { dbus?: boolean; wait?: number; sshKey: string; defaults?: string },
  use: (vm: CloudVm) => Promise<T>,
): Promise<T> {
  const guest = await cloudGuest({ dbus: opts.dbus ?? false });
  const server = new ImageServer();
  try {
    const disk = Deno.readFileSync(guest.disk);
    server.files.set("/cloud-guest.qcow2", disk);
    server.files.set(
      "/SHA256SUMS",
      new TextEncoder().encode(sha256Sums({ "cloud-guest.qcow2": disk })),
    );
    Deno.writeTextFileSync(
      `${t.vmdir}/.default/images.conf`,
      `[cloud-guest]\nkind = disk\nurl = ${server.url("/cloud-guest.qcow2")}\n` +
        `sums = ${server.url("/SHA256SUMS")}\n`,
    );
    const pull = await t.vm(["image", "pull", "cloud-guest"]);
    assert.equal(pull.code, 0, pull.stderr);
    const r = await t.vm(
      [
        "make",
        name,
        "--image",
        "cloud-guest",
        "--user",
        "vm",
        "--ssh-key",
        opts.sshKey,
        "--wait",
        String(opts.wait ?? 30),
        "--log",
        "--yes",
      ],
      { env: { VMCONF_DEFAULT_TEMPLATES: opts.defaults ?? "display-none" } },
    );
    assert.equal(r.code, 0, r.stderr);
    const dir = t.dir(name);
    // The seed's template is read last: the root disk is the first virtio disk, /dev/vda.
    // With `defaults` naming a drive template, that attaches the disk.
    const vmDisk = /\bdrive\b/.test(opts.defaults ?? "") ? undefined : "./drive.qcow2";
    const serial = ["-chardev", "file,id=ser0,path=guest.log,append=on", "-serial", "chardev:ser0"];
    Deno.writeTextFileSync(
      `${dir}/templates/boot`,
      quoteWords([...cloudGuestArgs(guest, vmDisk), ...serial]) + "\n",
    );
    const port = /127\.0\.0\.1:(\d+)/.exec(r.stdout)?.[1];
    assert.ok(port !== undefined, r.stdout);
    return await use({ dir, sshPort: Number(port), guest });
  } finally {
    await server.close();
  }
}

/** A TCP port on 127.0.0.1 that nothing listens on now. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}
