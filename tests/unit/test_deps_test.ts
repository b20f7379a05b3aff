/**
 * Unit tests of tests/support/test_deps.ts: which packages are missing, where
 * commands are looked for, the arguments for setup/packages.sh, and that a
 * dynamically linked busybox does not count.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  isPresent,
  missingPackages,
  packagesArgs,
  searchDirs,
  TEST_PACKAGES,
} from "../support/test_deps.ts";
import { withTempDir } from "../support/temp_dir.ts";

Deno.test("missingPackages: each missing package once, in table order", () => {
  const table = { b: "pkg-b", a: "pkg-a", a2: "pkg-a", c: "pkg-c" };
  assert.deepEqual(missingPackages(table, (need) => need === "c"), ["pkg-b", "pkg-a"]);
  assert.deepEqual(missingPackages(table, () => true), []);
  assert.deepEqual(missingPackages(table, () => false), ["pkg-b", "pkg-a", "pkg-c"]);
});

Deno.test("TEST_PACKAGES names every package the tests need, runit and QEMU included", () => {
  const wanted = [
    "busybox-static",
    "cpio",
    "genisoimage",
    "xorriso",
    "cloud-image-utils",
    "cloud-init",
    "libvirt-daemon-system",
    "libvirt-clients",
    "mmdebstrap",
    "e2fsprogs",
    "openssh-client",
    "curl",
    "systemd",
    "zsh",
    "fish",
    "util-linux",
    "iproute2",
    "procps",
    "runit",
    "qemu-system-x86",
    "qemu-utils",
  ];
  const all = new Set(Object.values(TEST_PACKAGES));
  assert.deepEqual(wanted.filter((p) => !all.has(p)), []);
});

Deno.test("searchDirs: PATH's directories, then /usr/sbin and /sbin unless there", () => {
  assert.deepEqual(searchDirs("/a:/b"), ["/a", "/b", "/usr/sbin", "/sbin"]);
  assert.deepEqual(searchDirs("/sbin::/a"), ["/sbin", "/a", "/usr/sbin"]);
  assert.deepEqual(searchDirs(undefined), ["/usr/sbin", "/sbin"]);
});

Deno.test("packagesArgs: --lists, apt-get only, --yes when asked, the packages after --", () => {
  const args = packagesArgs(["cpio", "zsh"], true);
  assert.match(args[0] ?? "", /\/setup\/packages\.sh$/);
  assert.deepEqual(args.slice(1, 5), ["--yes", "--lists", "--only", "apt-get"]);
  assert.deepEqual(args.slice(-3), ["--", "cpio", "zsh"]);
  assert.ok(!packagesArgs([], false).includes("--yes"));
  assert.equal(packagesArgs([], false).at(-1), "--");
});

Deno.test("isPresent: a command on PATH counts; busybox only when statically linked", async () => {
  await withTempDir((dir) => {
    const path = Deno.env.get("PATH");
    try {
      Deno.env.set("PATH", dir);
      assert.equal(isPresent("busybox"), false);
      // A dynamically linked ELF (the shell) named busybox does not count.
      Deno.copyFileSync(Deno.realPathSync("/bin/sh"), join(dir, "busybox"));
      assert.equal(isPresent("busybox"), false);
      // Debian's busybox-static (test_deps.ts installs it before the tests) does.
      Deno.copyFileSync("/bin/busybox", join(dir, "busybox"));
      assert.equal(isPresent("busybox"), true);
      Deno.writeTextFileSync(join(dir, "zsh"), "#!/bin/sh\n", { mode: 0o755 });
      assert.equal(isPresent("zsh"), true);
      Deno.writeTextFileSync(join(dir, "fish"), "not executable\n", { mode: 0o644 });
      assert.equal(isPresent("fish"), false);
      assert.equal(isPresent(join(dir, "fish")), true, "a file path only has to exist");
      assert.equal(isPresent(join(dir, "nosuch")), false);
    } finally {
      if (path === undefined) Deno.env.delete("PATH");
      else Deno.env.set("PATH", path);
    }
  });
});
