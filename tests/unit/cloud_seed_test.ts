/**
 * Tests of lib/cloud_init/seed.ts and yaml.ts: vm's cloud-config passes
 * `cloud-init schema -c` (Debian's cloud-init on this host) for every
 * combination of options; the user-data composed with the user's own file
 * is read by cloud-init's own user-data processor and part handler (run
 * through /usr/bin/python3) with the documented result: their keys win,
 * scripts and MIME parts survive as parts.
 */

import assert from "node:assert/strict";
import {
  checkHostname,
  checkUser,
  cloudConfig,
  type CloudConfigSpec,
  composeUserData,
  hostnameFor,
  instanceIdOf,
  metaData,
  newInstanceId,
  userDataType,
  withAuthorizedKey,
  withInstanceId,
} from "../../lib/cloud_init/seed.ts";
import { Literal, toYaml } from "../../lib/cloud_init/yaml.ts";
import { newKeyFiles } from "../../lib/ssh/keys.ts";
import { randomSalt, sha512Crypt } from "../../lib/text/sha_crypt.ts";
import { run } from "../support/harness.ts";

const dir = Deno.makeTempDirSync({ prefix: "cloud-seed-test-" });
addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

/** Writes `text` to a file in the temp dir and returns its path. */
function file(name: string, text: string): string {
  Deno.writeTextFileSync(`${dir}/${name}`, text);
  return `${dir}/${name}`;
}

/** What cloud-init makes of a user-data text: the merged cloud-config and the scripts. */
async function cloudInitReads(
  userData: string,
): Promise<{ config: Record<string, unknown>; scripts: string[] }> {
  const script = file(
    "read_user_data.py",
    `import json, sys, tempfile
from cloudinit import helpers, user_data
from cloudinit.handlers.cloud_config import CloudConfigPartHandler
d = tempfile.mkdtemp()
paths = helpers.Paths({"cloud_dir": d, "run_dir": d})
msg = user_data.UserDataProcessor(paths).process(open(sys.argv[1], "rb").read())
h = CloudConfigPartHandler(paths)
h.handle_part(None, "__begin__", None, None, None, None)
scripts = []
for part in msg.walk():
    if part.get_content_maintype() == "multipart":
        continue
    ctype = part.get_content_type()
    payload = part.get_payload(decode=True).decode()
    if ctype == "text/cloud-config":
        h.handle_part(None, ctype, part.get_filename(), payload, 3, dict(part))
    elif ctype == "text/x-shellscript":
        scripts.append(payload)
print(json.dumps({"config": h.cloud_buf, "scripts": scripts}))
`,
  );
  const r = await run("/usr/bin/python3", [script, file("user-data", userData)]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const hostKey = await newKeyFiles("root@web");
const clientKey = (await newKeyFiles("vm@host")).public;
const otherKey = (await newKeyFiles("me@laptop")).public;

function spec(o: Partial<CloudConfigSpec> = {}): CloudConfigSpec {
  return { hostname: "web", user: "vm", authorizedKeys: [clientKey], hostKey, ...o };
}

Deno.test("cloud-init schema -c accepts vm's cloud-config for every combination of options", async () => {
  const hash = sha512Crypt("secret", randomSalt());
  let n = 0;
  for (const hostname of ["web", "web.example.org"]) {
    for (const passwordHash of [undefined, hash]) {
      for (const packages of [[], ["curl", "python3-yaml", "libc6:amd64"]]) {
        for (const authorizedKeys of [[clientKey], [clientKey, otherKey]]) {
          const s = spec({ hostname, authorizedKeys, packages, user: n % 2 ? "alice_1" : "vm" });
          const text = cloudConfig(passwordHash === undefined ? s : { ...s, passwordHash });
          const path = file(`cc-${n++}.yaml`, text);
          const r = await run("cloud-init", ["schema", "-c", path]);
          assert.equal(r.code, 0, `${text}\n${r.stdout}${r.stderr}`);
          assert.match(r.stdout, /Valid cloud-config/);
          assert.doesNotMatch(r.stdout + r.stderr, /deprecat|error/i);
        }
      }
    }
  }
  assert.equal(n, 16);
});

Deno.test("cloud-init reads vm's cloud-config as meant: user, keys, host key, hostname, password", async () => {
  const hash = sha512Crypt("pw", "abcdefgh");
  const text = cloudConfig(spec({ hostname: "web.lan", passwordHash: hash, packages: ["htop"] }));
  const { config } = await cloudInitReads(text);
  assert.equal(config.hostname, "web");
  assert.equal(config.fqdn, "web.lan");
  assert.deepEqual(config.packages, ["htop"]);
  const [user] = config.users as Record<string, unknown>[];
  assert.equal(user?.name, "vm");
  assert.equal(user?.sudo, "ALL=(ALL) NOPASSWD:ALL");
  assert.equal(user?.hashed_passwd, hash);
  assert.equal(user?.lock_passwd, false);
  assert.deepEqual(user?.ssh_authorized_keys, [clientKey]);
  const keys = config.ssh_keys as Record<string, string>;
  assert.equal(keys.ed25519_private, hostKey.private);
  assert.equal(keys.ed25519_public, hostKey.public);
  const locked = (await cloudInitReads(cloudConfig(spec()))).config;
  assert.equal((locked.users as Record<string, unknown>[])[0]?.lock_passwd, true);
  assert.equal("packages" in locked, false);
});

Deno.test("their #cloud-config merged over vm's: their keys win, the others stay", async () => {
  const ours = cloudConfig(spec());
  const theirs = "#cloud-config\nhostname: theirs\nruncmd:\n  - [touch, /tmp/x]\n";
  const ud = composeUserData(ours, theirs, "mine.yaml", "==b1==");
  const { config } = await cloudInitReads(ud);
  assert.equal(config.hostname, "theirs");
  assert.deepEqual(config.runcmd, [["touch", "/tmp/x"]]);
  assert.equal((config.users as { name: string }[])[0]?.name, "vm");
  assert.ok("ssh_keys" in config);
});

Deno.test("a #! script and a MIME multi-part of theirs are passed on as parts", async () => {
  const ours = cloudConfig(spec());
  const script = "#!/bin/sh\necho hello > /tmp/hello\n";
  const s = await cloudInitReads(composeUserData(ours, script, "s.sh", "==b2=="));
  assert.deepEqual(s.scripts, [script]);
  assert.equal(s.config.hostname, "web");
  const mime = [
    'Content-Type: multipart/mixed; boundary="inner"',
    "MIME-Version: 1.0",
    "",
    "--inner",
    'Content-Type: text/x-shellscript; charset="us-ascii"',
    "",
    "#!/bin/sh\necho inner",
    "--inner",
    'Content-Type: text/cloud-config; charset="us-ascii"',
    "",
    "#cloud-config\npackages: [jq]",
    "--inner--",
    "",
  ].join("\n");
  const m = await cloudInitReads(composeUserData(ours, mime, "m.mime", "==b3=="));
  assert.deepEqual(m.scripts.map((x) => x.trim()), ["#!/bin/sh\necho inner"]);
  assert.deepEqual(m.config.packages, ["jq"]);
  assert.equal(m.config.hostname, "web");
});

Deno.test("user-data types by first line; unknown text and a clashing boundary are refused", () => {
  assert.equal(userDataType("#cloud-config\n"), "text/cloud-config");
  assert.equal(userDataType("#cloud-config-archive\n"), "text/cloud-config-archive");
  assert.equal(userDataType("#!/usr/bin/env python3\n"), "text/x-shellscript");
  assert.equal(userDataType("#cloud-boothook\n"), "text/cloud-boothook");
  assert.equal(
    userDataType("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=x\n\n"),
    "multipart",
  );
  assert.equal(userDataType("hostname: x\n"), undefined);
  assert.throws(
    () => composeUserData("#cloud-config\n", "hostname: x\n", "f.yaml", "=="),
    /"f.yaml" is no user-data/,
  );
  assert.throws(
    () => composeUserData("#cloud-config\n", "#!/bin/sh\n# ==b==\n", "f", "==b=="),
    /boundary/,
  );
  assert.equal(
    composeUserData("#cloud-config\nx: 1\n", undefined, "f", "=="),
    "#cloud-config\nx: 1\n",
  );
});

Deno.test("meta-data: instance-id and local-hostname; the id is read and replaced", () => {
  const id = newInstanceId();
  assert.match(id, /^iid-[0-9a-f]{16}$/);
  const md = metaData(id, "web");
  assert.equal(md, `instance-id: "${id}"\nlocal-hostname: "web"\n`);
  assert.equal(instanceIdOf(md), id);
  assert.equal(instanceIdOf("instance-id: iid-plain # c\n"), "iid-plain");
  assert.equal(instanceIdOf("local-hostname: x\n"), undefined);
  const md2 = withInstanceId(md, "iid-2");
  assert.equal(instanceIdOf(md2), "iid-2");
  assert.match(md2, /local-hostname: "web"/);
  assert.equal(instanceIdOf(withInstanceId("local-hostname: x\n", "iid-3")), "iid-3");
});

Deno.test("user and host names: checked; a host name from any VM name", () => {
  assert.equal(checkUser("vm"), "vm");
  for (const bad of ["Root", "1abc", "a b", "x".repeat(33), ""]) {
    assert.throws(() => checkUser(bad), /User name/);
  }
  assert.equal(checkHostname("web.example.org"), "web.example.org");
  for (const bad of ["-web", "web_1", "a..b", ""]) {
    assert.throws(() => checkHostname(bad), /Host name/);
  }
  assert.equal(hostnameFor("web_1"), "web-1");
  assert.equal(hostnameFor("db.prod"), "db.prod");
  assert.equal(hostnameFor("_x_"), "x");
  assert.equal(hostnameFor("x".repeat(64)), "x".repeat(63));
  assert.throws(() => cloudConfig(spec({ packages: ["bad name"] })), /Package name/);
});

Deno.test("YAML: scalars quoted, literals with the right chomping, nesting and empty collections", () => {
  assert.equal(
    toYaml({
      a: "x: y # z",
      b: 1,
      c: true,
      d: [],
      e: {},
      f: new Literal("l1\nl2\n"),
      g: new Literal("no newline"),
      h: new Literal(" indented\n\n"),
      i: [{ k: "v", l: ["m"] }, "n"],
      skipped: undefined,
    }),
    [
      'a: "x: y # z"',
      "b: 1",
      "c: true",
      "d: []",
      "e: {}",
      "f: |",
      "  l1",
      "  l2",
      "g: |-",
      "  no newline",
      "h: |2+",
      "   indented",
      "",
      "i:",
      '  - k: "v"',
      "    l:",
      '      - "m"',
      '  - "n"',
      "",
    ].join("\n"),
  );
  assert.throws(() => toYaml({ "bad key": 1 }), /plain key/);
});

Deno.test("withAuthorizedKey: a key added to the user's list, as cloud-init reads it; once", async () => {
  const text = cloudConfig(spec({ authorizedKeys: [clientKey, otherKey], packages: ["htop"] }));
  const newKey = (await newKeyFiles("vm@other-host")).public;
  const added = withAuthorizedKey(text, newKey);
  assert.ok(added !== "present" && added !== "no-list");
  const { config } = await cloudInitReads(added);
  const [user] = config.users as Record<string, unknown>[];
  assert.deepEqual(user?.ssh_authorized_keys, [clientKey, otherKey, newKey]);
  assert.deepEqual(config.packages, ["htop"]);
  assert.equal(withAuthorizedKey(added, newKey), "present");
  // Another comment, same key: there already.
  const [type, blob] = newKey.split(" ");
  assert.equal(withAuthorizedKey(added, `${type} ${blob} renamed`), "present");
  const r = await run("cloud-init", ["schema", "-c", file("added.yaml", added)]);
  assert.match(r.stdout, /Valid cloud-config/);
  assert.equal(withAuthorizedKey("#cloud-config\nusers: []\n", newKey), "no-list");
});
