/**
 * Tests of lib/vm/shares.ts and lib/actions/share_edit.ts: the `shares`
 * file (parse, format, errors), and `vm share add|rm`'s checks on real temp
 * folders (missing, not a directory, bad and taken tags; private file).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  formatShares,
  guestMountPoint,
  parseShares,
  readShares,
  type ShareRule,
  sharesJson,
  shareSocket,
  tagProblem,
} from "../../lib/vm/shares.ts";
import { addShare, removeShare } from "../../lib/actions/share_edit.ts";
import { inspectDir } from "../../lib/vm/inspect.ts";
import { EXIT_USAGE, ParseError, UsageError, VmError } from "../../lib/errors.ts";
import { withTempDir } from "../support/temp_dir.ts";
import {
  C_VIRTIOFSD,
  findVirtiofsd,
  memoryBytes,
  noVirtiofsdLine,
  RO_SCRIPT,
  virtiofsdArgv,
  virtiofsQemuArgs,
} from "../../lib/qemu/virtiofs.ts";
import { planShares } from "../../lib/service/shares_start.ts";
import { regenerateSeed, writeSeedSources } from "../../lib/cloud_init/seed_file.ts";
import { composeUserData, sharesCloudConfig } from "../../lib/cloud_init/seed.ts";

Deno.test("shares file: lines parse and format back the same", () => {
  const text = "src rw /home/u/my src\ndata ro,guest=/srv/data /srv/data\n";
  const shares = parseShares(`# comment\n\n${text}`, "shares");
  assert.deepEqual(shares, [
    { tag: "src", path: "/home/u/my src", readonly: false },
    { tag: "data", path: "/srv/data", readonly: true, guestPath: "/srv/data" },
  ]);
  assert.equal(formatShares(shares), text);
  assert.equal(guestMountPoint(shares[0] as ShareRule), "/mnt/src");
  assert.deepEqual(sharesJson(shares)[1], {
    tag: "data",
    path: "/srv/data",
    readonly: true,
    guest_path: "/srv/data",
  });
});

Deno.test("shares file: a bad line is a ParseError naming file and line", () => {
  const bad: [string, RegExp][] = [
    ["src /x", /expected TAG rw\|ro HOSTDIR/],
    ["src rw x/y", /not an absolute path/],
    ["-x rw /x", /letters, digits/],
    ["src rx /x", /unknown option "rx"/],
    ["src rw,ro /x", /twice/],
    ["src guest=/a /x", /neither rw nor ro/],
    ["src rw,guest=a /x", /guest path "a"/],
    ["a rw /x\na ro /y", /shared twice/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => parseShares(text, "web/shares"), (e: unknown) => {
      assert.ok(e instanceof ParseError, text);
      assert.match(e.message, /^web\/shares:\d+: /);
      assert.match(e.message, re);
      return true;
    });
  }
});

Deno.test("tags: syntax and length", () => {
  assert.equal(tagProblem("src"), undefined);
  assert.equal(tagProblem("a.b_c-9"), undefined);
  assert.equal(tagProblem("x".repeat(36)), undefined);
  assert.match(tagProblem("x".repeat(37)) ?? "", /longer than 36/);
  assert.match(tagProblem("a b") ?? "", /letters/);
  assert.match(tagProblem("") ?? "", /letters/);
  assert.match(tagProblem(".x") ?? "", /letters/);
});

/** Asserts that `p` rejects with a UsageError (exit 100) whose message matches `re`. */
async function rejectsUsage(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.equal((e as VmError).exitCode, EXIT_USAGE);
    assert.match((e as Error).message, re);
    return true;
  });
}

Deno.test("share add/rm: checks the folder and tag, writes the file privately", async () => {
  await withTempDir(async (root) => {
    const vm = join(root, "web");
    Deno.mkdirSync(vm);
    const src = join(root, "my-src");
    Deno.mkdirSync(src);
    Deno.writeTextFileSync(join(root, "file"), "x");
    Deno.symlinkSync(src, join(root, "link"));

    await rejectsUsage(
      addShare("web", vm, { folder: join(root, "gone"), readonly: false }),
      /Folder ".*gone" does not exist/,
    );
    await rejectsUsage(
      addShare("web", vm, { folder: join(root, "file"), readonly: false }),
      /is not a directory/,
    );
    await rejectsUsage(
      addShare("web", vm, { folder: src, tag: "a b", readonly: false }),
      /Bad --tag/,
    );
    await rejectsUsage(
      addShare("web", vm, { folder: src, guestPath: "rel", readonly: false }),
      /Bad --guest-path/,
    );
    const c = await addShare("web", vm, { folder: join(root, "link"), readonly: true });
    assert.deepEqual(c.share, { tag: "my-src", path: src, readonly: true });
    assert.equal(c.running, false);
    await rejectsUsage(
      addShare("web", vm, { folder: src, readonly: false }),
      /already shares a folder with tag "my-src"/,
    );
    await addShare("web", vm, { folder: root, tag: "root", readonly: false, guestPath: "/r" });
    assert.equal(Deno.statSync(join(vm, "shares")).mode! & 0o777, 0o600);
    assert.deepEqual(inspectDir(vm).shares.map((s) => s.tag), ["my-src", "root"]);

    await rejectsUsage(removeShare("web", vm, "nope"), /shares no folder tagged "nope"/);
    await removeShare("web", vm, "my-src");
    assert.deepEqual(readShares(vm), [
      { tag: "root", path: root, readonly: false, guestPath: "/r" },
    ]);
    // nothing half-written: no shares.new left
    assert.deepEqual([...Deno.readDirSync(vm)].map((e) => e.name).sort(), [".lock", "shares"]);
  });
});

Deno.test("Vm.shares: none without the file; a broken file throws ParseError", async () => {
  await withTempDir((root) => {
    assert.deepEqual(inspectDir(root).shares, []);
    Deno.writeTextFileSync(join(root, "shares"), "x y\n");
    assert.throws(() => inspectDir(root).shares, ParseError);
  });
});

Deno.test("virtiofs: QEMU's arguments, memory sized like -m", () => {
  assert.equal(memoryBytes([]), 128 * 2 ** 20);
  assert.equal(memoryBytes(["-m", "256"]), 256 * 2 ** 20);
  assert.equal(memoryBytes(["-m", "1G", "-m", "size=512M,maxmem=2G"]), 512 * 2 ** 20);
  assert.equal(memoryBytes(["-m", "1.5G"]), 1.5 * 2 ** 30);
  assert.equal(memoryBytes(["-m", "lots"]), undefined);
  assert.deepEqual(virtiofsQemuArgs([], 1, shareSocket), []);
  const s = [{ tag: "src", path: "/x", readonly: false }, {
    tag: "ro",
    path: "/y",
    readonly: true,
  }];
  assert.deepEqual(virtiofsQemuArgs(s, 268435456, shareSocket), [
    "-object",
    "memory-backend-memfd,id=vm-shared-mem,size=268435456,share=on",
    "-machine",
    "memory-backend=vm-shared-mem",
    "-chardev",
    "socket,id=fs-src,path=supervise/fs-src",
    "-device",
    "vhost-user-fs-pci,chardev=fs-src,tag=src",
    "-chardev",
    "socket,id=fs-ro,path=supervise/fs-ro",
    "-device",
    "vhost-user-fs-pci,chardev=fs-ro,tag=ro",
  ]);
});

Deno.test("virtiofs: virtiofsd's command line; ro enforced on the host", () => {
  const c = { program: C_VIRTIOFSD, kind: "c" as const };
  const rust = { program: "/usr/libexec/virtiofsd", kind: "rust" as const };
  const rw = { tag: "a", path: "/srv/a b", readonly: false };
  const ro = { ...rw, readonly: true };
  const tools = { unshare: "/usr/bin/unshare", mount: "/usr/bin/mount", sh: "/bin/sh" };
  assert.deepEqual(virtiofsdArgv(c, rw, "/v/supervise/fs-a", true), [
    C_VIRTIOFSD,
    "--socket-path=/v/supervise/fs-a",
    "-o",
    "source=/srv/a b",
    "-o",
    "cache=auto",
  ]);
  assert.deepEqual(virtiofsdArgv(c, ro, "/s", true, tools).slice(0, 10), [
    "/usr/bin/unshare",
    "--mount",
    "--",
    "/bin/sh",
    "-c",
    RO_SCRIPT,
    "sh",
    "/usr/bin/mount",
    "/srv/a b",
    C_VIRTIOFSD,
  ]);
  assert.deepEqual(virtiofsdArgv(rust, ro, "/s", false), [
    "/usr/libexec/virtiofsd",
    "--socket-path=/s",
    "--shared-dir=/srv/a b",
    "--cache=auto",
    "--readonly",
    "--sandbox=none",
  ]);
  assert.match(noVirtiofsdLine(false), /needs root .*apt-get install virtiofsd/);
});

Deno.test("planShares: a vanished folder or no virtiofsd refuses the start in one line", async () => {
  await withTempDir((root) => {
    const vm = join(root, "web");
    Deno.mkdirSync(vm);
    assert.deepEqual(planShares(inspectDir(vm), {}, []), { args: [], companions: [] });
    Deno.writeTextFileSync(join(vm, "shares"), `gone rw ${root}/gone\n`);
    assert.throws(
      () => planShares(inspectDir(vm), {}, [], true),
      /^SystemError: Not starting "web": the folder ".*\/gone" of share "gone" is gone/,
    );
    Deno.writeTextFileSync(join(vm, "shares"), `here ro ${root}\n`);
    const found = findVirtiofsd(true);
    if (found !== undefined) {
      const p = planShares(inspectDir(vm), { PATH: "/usr/bin:/bin" }, ["-m", "64M"], true);
      assert.equal(p.companions.length, 1);
      assert.equal(p.companions[0]?.name, "virtiofsd for share here");
      assert.equal(p.companions[0]?.ready, join(vm, "supervise/fs-here"));
      assert.ok(
        p.args.includes(`memory-backend-memfd,id=vm-shared-mem,size=${64 * 2 ** 20},share=on`),
      );
    }
    if (findVirtiofsd(false) === undefined) {
      assert.throws(
        () => planShares(inspectDir(vm), {}, [], false),
        /it shares folders \(here\), but Debian's C virtiofsd .* needs root/,
      );
    }
  });
});

Deno.test("cloud-init: the seed mounts the shares at boot; regenerate follows the shares file", async () => {
  await withTempDir(async (vm) => {
    writeSeedSources(vm, {
      metaData: "instance-id: iid-1\n",
      userData: "#cloud-config\nhostname: x\n",
    });
    Deno.writeTextFileSync(join(vm, "shares"), "src rw /h/src\ndata ro,guest=/data /h/d\n");
    await regenerateSeed(vm, false);
    const iso = new TextDecoder().decode(Deno.readFileSync(join(vm, "seed.iso")));
    assert.match(
      iso,
      /filename="vm-shares.cfg"\nMerge-Type: dict\(recurse_array,no_replace\)\+list\(append\)\+str\(\)/,
    );
    assert.match(iso, /- "src"\n {4}- "\/mnt\/src"\n {4}- "virtiofs"\n {4}- "defaults,nofail"/);
    assert.match(iso, /- "data"\n {4}- "\/data"\n {4}- "virtiofs"\n {4}- "ro,nofail"/);
    Deno.writeTextFileSync(join(vm, "shares"), "");
    await regenerateSeed(vm, false);
    const again = new TextDecoder().decode(Deno.readFileSync(join(vm, "seed.iso")));
    assert.doesNotMatch(again, /vm-shares\.cfg|virtiofs/);
  });
});

Deno.test("cloud-init: the shares' part appends to the mounts before it", () => {
  const cfg = sharesCloudConfig([{ tag: "t", guestPath: "/mnt/t", readonly: false }]);
  assert.equal(sharesCloudConfig([]), undefined);
  const ud = composeUserData("#cloud-config\n", "#cloud-config\nmounts: []\n", "x", "==b==", cfg);
  const parts = ud.split("--==b==");
  assert.equal(parts.length, 5); // preamble, vm.cfg, theirs, vm-shares.cfg, end
  assert.match(parts[3] ?? "", /vm-shares\.cfg/);
});

Deno.test("virtiofs: the C virtiofsd's -o source escapes commas and backslashes", () => {
  const c = { program: C_VIRTIOFSD, kind: "c" as const };
  const argv = virtiofsdArgv(c, { tag: "a", path: "/x/a,b\\c", readonly: false }, "/s", true);
  assert.equal(argv[3], "source=/x/a\\,b\\\\c");
});
