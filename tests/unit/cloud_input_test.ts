// Cloud-init inputs. A public key whose comment holds DEL
// or C1 characters reaches the guest as it is, escaped in vm's
// cloud-config, which `cloud-init schema -c` (Debian's cloud-init) accepts
// (before, it said "unacceptable character #x007f" and the guest dropped
// the whole cloud-config); a `--cloud-init` file holding such a character
// is refused with its file and line. Every file vm reads from a user's
// argument is capped with one line: `--ssh-key` 64 KiB, `--cloud-init`
// 1 MiB, the config file and the image catalog 1 MiB; `--ssh-key
// /dev/zero` fails at once (before, vm read it until memory ran out).

import assert from "node:assert/strict";
import { join } from "node:path";
import { ParseError, UsageError } from "../../lib/errors.ts";
import { cloudConfig, composeUserData } from "../../lib/cloud_init/seed.ts";
import { provisionCloud } from "../../lib/cloud_init/provision.ts";
import { newKeyFiles } from "../../lib/ssh/keys.ts";
import { REPO } from "../support/repo.ts";
import { run } from "../support/harness.ts";
import { withTempDir } from "../support/temp_dir.ts";

Deno.test("a key comment with DEL and C1 characters: a cloud-config cloud-init takes, the key kept", async () => {
  const hostKey = await newKeyFiles("root@web");
  const key = (await newKeyFiles("me@laptop")).public + " del\x7f nel\u0085 csi\u009b ls\u2028 é";
  const text = cloudConfig({ hostname: "web", user: "vm", authorizedKeys: [key], hostKey });
  assert.doesNotMatch(text, /[\x7f\u0085\u009b\u2028]/);
  await withTempDir(async (dir) => {
    const path = join(dir, "user-data");
    Deno.writeTextFileSync(path, text);
    const schema = await run("cloud-init", ["schema", "-c", path]);
    assert.equal(schema.code, 0, schema.stdout + schema.stderr);
    assert.match(schema.stdout, /Valid cloud-config/);
    const read = await run("/usr/bin/python3", [
      "-c",
      "import json, sys, yaml; d = yaml.safe_load(open(sys.argv[1], encoding='utf-8')); " +
      "print(json.dumps(d['users'][0]['ssh_authorized_keys']))",
      path,
    ]);
    assert.equal(read.code, 0, read.stderr);
    assert.deepEqual(JSON.parse(read.stdout), [key]);
  });
});

Deno.test("a --cloud-init cloud-config holding a DEL is refused with its file and line", () => {
  const theirs = '#cloud-config\nruncmd:\n  - [echo, "a\x7fb"]\n';
  assert.throws(
    () => composeUserData("#cloud-config\n", theirs, "mine.yaml", "==b=="),
    (e) =>
      e instanceof ParseError &&
      e.message === "mine.yaml:3: character U+007F is not allowed in YAML (cloud-init would " +
          "ignore the whole file); remove it",
  );
  // A script is no YAML: passed on as it is.
  assert.match(composeUserData("#cloud-config\n", "#!/bin/sh\necho \x7f\n", "s", "==b=="), /\x7f/);
});

Deno.test("files named by the user are capped: key 64 KiB, cloud-init 1 MiB, one line each", async () => {
  await withTempDir(async (vmdir) => {
    const dir = join(vmdir, ".make-web-1");
    Deno.mkdirSync(dir);
    const key = join(vmdir, "big.pub");
    Deno.writeTextFileSync(key, (await newKeyFiles("x")).public + " " + "c".repeat(64 << 10));
    await assert.rejects(
      () => provisionCloud(vmdir, dir, "web", { sshKeys: [key] }),
      (e) =>
        e instanceof UsageError &&
        e.message === `SSH key file "${key}" is larger than 64 KiB; give a smaller file`,
    );
    const ci = join(vmdir, "big.yaml");
    Deno.writeTextFileSync(ci, "#cloud-config\n" + "#".repeat(1 << 20));
    await assert.rejects(
      () => provisionCloud(vmdir, dir, "web", { sshKeys: [], cloudInit: ci }),
      (e) =>
        e instanceof UsageError &&
        e.message === `cloud-init file "${ci}" is larger than 1 MiB; give a smaller file`,
    );
  });
});

/** Runs `code` (a module importing vm's lib) in a new Deno, killed after 20 s; its output. */
async function inDeno(code: string, env: Record<string, string> = {}) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code],
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    text: dec.decode(out.stdout) + dec.decode(out.stderr),
  };
}

Deno.test("/dev/zero as --ssh-key, --cloud-init, VMCONF or VMCONF_IMAGES fails at once", async () => {
  await withTempDir(async (vmdir) => {
    const lib = `file://${REPO}/lib`;
    const make = (opts: string) =>
      inDeno(`
        import { provisionCloud } from "${lib}/cloud_init/provision.ts";
        Deno.mkdirSync("${vmdir}/.make-web-1", { recursive: true });
        try {
          await provisionCloud("${vmdir}", "${vmdir}/.make-web-1", "web", ${opts});
        } catch (e) {
          console.log(e.constructor.name + ": " + e.message);
        }`);
    const key = await make(`{ sshKeys: ["/dev/zero"] }`);
    assert.equal(
      key.text,
      'UsageError: SSH key file "/dev/zero" is larger than 64 KiB; give a smaller file\n',
      `${key.signal ?? ""}`,
    );
    const ci = await make(`{ sshKeys: [], cloudInit: "/dev/zero" }`);
    assert.equal(
      ci.text,
      'UsageError: cloud-init file "/dev/zero" is larger than 1 MiB; give a smaller file\n',
    );
    const conf = await inDeno(
      `import { loadConfig } from "${lib}/vm/config.ts";
       import { loadCatalog } from "${lib}/images/catalog.ts";
       for (const f of [() => loadConfig({ VMCONF: "/dev/zero", HOME: "/h" }),
         () => loadCatalog(loadConfig({ HOME: "/h", VMDIR: "/v", VMCONF: "/dev/null", VMCONF_IMAGES: "/dev/zero" }))]) {
         try { f(); } catch (e) { console.log(e.constructor.name + ": " + e.message); }
       }`,
    );
    assert.equal(
      conf.text,
      'UsageError: Config file "/dev/zero" is larger than 1 MiB; it holds KEY=value lines: ' +
        "check what it is\n" +
        'UsageError: Image catalog "/dev/zero" is larger than 1 MiB; check what it is\n',
    );
  });
});
