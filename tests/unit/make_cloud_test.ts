/**
 * Tests of cli/commands/make_cloud.ts: the make options read from an Invocation,
 * the password asked twice and kept only as a SHA-512 crypt hash, and the
 * interactive questions — run in a subprocess whose standard input is a
 * pipe of answers (not a terminal: answers are read as lines).
 */

import assert from "node:assert/strict";
import { sha512Crypt } from "../../lib/text/sha_crypt.ts";
import { REPO } from "../support/harness.ts";

/** Runs `body` (TypeScript using `cloudMakeOptions`, `askCloudOptions`) with `input` piped in; its stdout and code. */
async function withInput(
  body: string,
  input: string,
): Promise<{ code: number; out: string; err: string }> {
  const dir = Deno.makeTempDirSync({ prefix: "make-cloud-test-" });
  try {
    Deno.writeTextFileSync(
      `${dir}/main.ts`,
      `import { askCloudOptions, cloudMakeOptions } from "${REPO}/cli/commands/make_cloud.ts";\n` +
        `import { LineReader } from "${REPO}/lib/os/line_reader.ts";\n` +
        `const lines = new LineReader(Deno.stdin);\nconst readLine = () => lines.readLine();\n` +
        `const ask = async <T>(q: string, check: (a: string) => T) => { ` +
        `await Deno.stderr.write(new TextEncoder().encode(q)); ` +
        `return check((await lines.readLine()) ?? ""); };\nvoid ask; void readLine;\n${body}\n`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", `${dir}/main.ts`],
      env: { HOME: dir, USER: "alice" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(input));
    await w.close();
    const o = await child.output();
    const dec = new TextDecoder();
    return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("options from the command line; --password asked twice, only its hash kept", async () => {
  const r = await withInput(
    `const o = await cloudMakeOptions({ command: "make", args: ["web"], opts: { user: "bob", "ssh-key": ["a.pub", "b.pub"], hostname: "h", password: true, packages: "curl, jq", "cloud-init": "ci.yaml" } }, readLine);\nconsole.log(JSON.stringify(o));`,
    "s3cret\ns3cret\n",
  );
  assert.equal(r.code, 0, r.err);
  const o = JSON.parse(r.out);
  assert.deepEqual({ ...o, passwordHash: undefined }, {
    user: "bob",
    sshKeys: ["a.pub", "b.pub"],
    hostname: "h",
    cloudInit: "ci.yaml",
    packages: ["curl", "jq"],
    passwordHash: undefined,
  });
  const salt = o.passwordHash.split("$")[2];
  assert.equal(o.passwordHash, sha512Crypt("s3cret", salt));
  assert.doesNotMatch(r.out + r.err, /s3cret/);
});

Deno.test("different or empty passwords are refused", async () => {
  const body =
    `await cloudMakeOptions({ command: "make", args: [], opts: { password: true } }, readLine);`;
  const diff = await withInput(body, "one\ntwo\n");
  assert.notEqual(diff.code, 0);
  assert.match(diff.err, /The two passwords differ/);
  const empty = await withInput(body, "\n");
  assert.match(empty.err, /No password given/);
});

Deno.test("interactive: empty answers take the defaults, given options are not asked", async () => {
  const r = await withInput(
    `console.log(JSON.stringify(await askCloudOptions("web_1", { packages: ["x"] }, ask, readLine)));`,
    "\n\n\n\n",
  );
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), {
    packages: ["x"],
    user: Deno.uid() === 0 ? "vm" : "alice",
    sshKeys: [],
    hostname: "web-1",
  });
  assert.match(r.err, /User in the guest \(with sudo\) \[(alice|vm)\]: /);
  assert.doesNotMatch(r.err, /Debian packages/);
  const answered = await withInput(
    `console.log(JSON.stringify(await askCloudOptions("web", {}, ask, readLine)));`,
    "carol\nnone\nwww\ny\npw\npw\nhtop\n",
  );
  assert.equal(answered.code, 0, answered.err);
  const o = JSON.parse(answered.out);
  assert.equal(o.user, "carol");
  assert.deepEqual(o.sshKeys, []);
  assert.equal(o.hostname, "www");
  assert.deepEqual(o.packages, ["htop"]);
  assert.match(o.passwordHash, /^\$6\$[./0-9A-Za-z]{16}\$/);
});
