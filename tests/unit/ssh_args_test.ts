/**
 * Tests of lib/ssh/ssh_args.ts and the known_hosts line: the ssh and scp
 * command lines, `vm cp` operands, and Host blocks as OpenSSH reads them
 * (`ssh -G`).
 */

import assert from "node:assert/strict";
import {
  cpVm,
  parseCpOperand,
  scpArgv,
  sshArgv,
  sshConfigBlock,
  type SshTarget,
} from "../../lib/ssh/ssh_args.ts";
import { knownHostsLine } from "../../lib/ssh/key_files.ts";
import { newKeyFiles } from "../../lib/ssh/keys.ts";
import { remoteCommand } from "../../cli/commands/ssh.ts";
import { run } from "../support/harness.ts";

const T: SshTarget = {
  name: "web",
  port: 2223,
  user: "vm",
  key: "/v/.default/ssh/id_ed25519",
  knownHosts: "/v/my vms/web/ssh/known_hosts",
};
const STRICT = [
  "-i",
  T.key,
  "-o",
  "IdentitiesOnly=yes",
  "-o",
  "StrictHostKeyChecking=yes",
  "-o",
  `UserKnownHostsFile=${T.knownHosts}`,
];

Deno.test("ssh argv: port, key, strict checking with the VM's known_hosts, then the command", () => {
  assert.deepEqual(sshArgv(T, []), ["ssh", "-p", "2223", ...STRICT, "--", "vm@127.0.0.1"]);
  assert.deepEqual(sshArgv(T, ["ls", "-la"], ["-o", "BatchMode=yes"]), [
    "ssh",
    "-p",
    "2223",
    ...STRICT,
    "-o",
    "BatchMode=yes",
    "--",
    "vm@127.0.0.1",
    "ls",
    "-la",
  ]);
  assert.deepEqual(remoteCommand(["--", "ls", "--", "x"]), ["ls", "--", "x"]);
  assert.deepEqual(remoteCommand(["hostname"]), ["hostname"]);
});

Deno.test("vm cp operands: <vm>:path only for VMs; one VM per copy; scp argv", () => {
  const vms = ["web", "db"];
  const ops = ["web:/etc/hostname", "./x", "a:b", "/abs/web:1"].map((w) => parseCpOperand(w, vms));
  assert.deepEqual(ops, [
    { vm: "web", path: "/etc/hostname" },
    { local: "./x" },
    { local: "a:b" },
    { local: "/abs/web:1" },
  ]);
  assert.equal(cpVm([ops[0]!, ops[1]!]), "web");
  assert.throws(() => cpVm([{ local: "a" }, { local: "b" }]), /one VM/);
  assert.throws(() => cpVm([{ vm: "web", path: "/a" }, { vm: "db", path: "/b" }]), /one VM/);
  assert.throws(() => cpVm([{ vm: "web", path: "/a" }]), /one VM/);
  assert.deepEqual(scpArgv(T, [ops[2]!, ops[0]!], true), [
    "scp",
    "-P",
    "2223",
    ...STRICT,
    "-r",
    "--",
    "./a:b",
    "vm@127.0.0.1:/etc/hostname",
  ]);
});

Deno.test("Host blocks read back by ssh -G as meant", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "ssh-config-test-" });
  try {
    Deno.writeTextFileSync(
      `${dir}/config`,
      sshConfigBlock(T) + "\n" + sshConfigBlock({ ...T, name: "db", port: 2224 }),
    );
    const r = await run("ssh", ["-G", "-F", `${dir}/config`, "web"]);
    assert.equal(r.code, 0, r.stderr);
    const conf = new Map(
      r.stdout.split("\n").map((l) => [l.slice(0, l.indexOf(" ")), l.slice(l.indexOf(" ") + 1)]),
    );
    assert.equal(conf.get("hostname"), "127.0.0.1");
    assert.equal(conf.get("port"), "2223");
    assert.equal(conf.get("user"), "vm");
    assert.equal(conf.get("identityfile"), T.key);
    assert.equal(conf.get("identitiesonly"), "yes");
    assert.equal(conf.get("stricthostkeychecking"), "true");
    assert.equal(conf.get("userknownhostsfile"), T.knownHosts);
    const db = await run("ssh", ["-G", "-F", `${dir}/config`, "db"]);
    assert.match(db.stdout, /^port 2224$/m);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("known_hosts line: [127.0.0.1]:port and the key without its comment", async () => {
  const k = await newKeyFiles("root@web");
  const [type, b64] = k.public.split(" ");
  assert.equal(knownHostsLine(2222, k.public), `[127.0.0.1]:2222 ${type} ${b64}\n`);
  assert.equal(knownHostsLine(22, k.public), `127.0.0.1 ${type} ${b64}\n`);
  // ssh-keygen finds the key under that name in such a file.
  const dir = Deno.makeTempDirSync({ prefix: "kh-test-" });
  try {
    Deno.writeTextFileSync(`${dir}/known_hosts`, knownHostsLine(2222, k.public));
    const r = await run("ssh-keygen", ["-F", "[127.0.0.1]:2222", "-f", `${dir}/known_hosts`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Host \[127\.0\.0\.1\]:2222 found/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
