// `vm cp` to a VM that does not exist names it; the
// completions of `--templates +se`, `--templates -vn`, `vm ssh` (only VMs with
// SSH set up), `--image` (no ISOs) and `vm clone … --linked`, run by bash,
// zsh and fish as a user's shell would.

import assert from "node:assert/strict";
import { join } from "node:path";
import { run, test, type TestEnv } from "../support/harness.ts";

test("vm cp f.txt nosuchvm:/tmp/ says there is no such VM (exit 100)", async (t) => {
  const f = join(t.root, "f.txt");
  Deno.writeTextFileSync(f, "x\n");
  const r = await t.vm(["cp", f, "nosuchvm:/tmp/"]);
  assert.equal(r.code, 100, r.stderr);
  assert.equal(r.stderr, `vm: fatal: No VM "nosuchvm" in "${t.vmdir}"; see "vm list"\n`);
  // A local file whose name holds a ":" is still a local file.
  const odd = join(t.root, "nosuchvm:x");
  Deno.writeTextFileSync(odd, "x\n");
  const local = await t.vm(["cp", odd, f]);
  assert.equal(local.code, 100);
  assert.match(local.stderr, /"vm cp" copies between this host and one VM/);
});

/** VMs "plain" (no SSH) and "cloud" (made with --image: SSH set up); an ISO and a disk image in the catalog. */
async function setUp(t: TestEnv): Promise<void> {
  let r = await t.vm(["make", "plain", "-y", "--disk", "1M"]);
  assert.equal(r.code, 0, r.stderr);
  const image = join(t.root, "blank.qcow2");
  assert.equal((await run("qemu-img", ["create", "-q", "-f", "qcow2", image, "16M"])).code, 0);
  r = await t.vm(["make", "cloud", "-y", "--image", image, "--disk", "16M"]);
  assert.equal(r.code, 0, r.stderr);
  Deno.writeTextFileSync(
    join(t.vmdir, ".default/images.conf"),
    "[mydisk]\nurl = https://example.invalid/d.qcow2\n" +
      "[myiso]\nkind = iso\nurl = https://example.invalid/i.iso\n",
  );
}

/** What bash completes the last word of `line` to. */
async function bash(t: TestEnv, script: string, line: string): Promise<string[]> {
  const words = line.split(" ");
  const r = await run("bash", [
    "-c",
    [
      `source ${script}`,
      `COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")})`,
      `COMP_CWORD=${words.length - 1}`,
      `_vm vm '${words.at(-1)}' '${words.at(-2)}'`,
      `printf '%s\\n' "\${COMPREPLY[@]}"`,
    ].join("\n"),
  ], t.env);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split("\n").filter((w) => w !== "");
}

test("completions of +/-templates, vm ssh, --image and --linked in bash, zsh and fish", async (t) => {
  await setUp(t);
  const script = join(t.root, "vm.bash");
  Deno.writeTextFileSync(script, (await t.vm(["completions", "bash"])).stdout);
  assert.deepEqual(await bash(t, script, "vm make x --templates +se"), ["+serial-console"]);
  assert.deepEqual(await bash(t, script, "vm make x --templates -vn"), ["-vnc"]);
  assert.deepEqual(await bash(t, script, "vm make x --templates ser"), ["serial-console"]);
  assert.deepEqual(await bash(t, script, "vm ssh "), ["cloud"]);
  assert.deepEqual(await bash(t, script, "vm ssh-config "), ["cloud"]);
  assert.deepEqual(await bash(t, script, "vm start "), ["cloud", "plain"]);
  const images = await bash(t, script, "vm make x --image my");
  assert.deepEqual(images, ["mydisk"], "no ISO");
  assert.ok(
    (await bash(t, script, "vm image pull my")).includes("myiso"),
    "vm image pull: ISOs too",
  );
  assert.deepEqual(await bash(t, script, "vm clone plain y --li"), ["--linked"]);
  assert.deepEqual(await bash(t, script, "vm start --"), [
    "--timeout",
    "--force",
    "--ssh",
    "--help",
  ]);

  const fish = join(t.root, "vm.fish");
  Deno.writeTextFileSync(fish, (await t.vm(["completions", "fish"])).stdout);
  const f = await run("fish", [
    "--no-config",
    "-c",
    `source ${fish}; complete -C 'vm make x --templates +se'; echo ==; complete -C 'vm ssh '; ` +
    `echo ==; complete -C 'vm make x --image my'`,
  ], t.env);
  assert.equal(f.code, 0, f.stderr);
  assert.deepEqual(f.stdout.split("==\n"), ["+serial-console\n", "cloud\n", "mydisk\n"]);

  const zsh = join(t.root, "_vm");
  Deno.writeTextFileSync(zsh, (await t.vm(["completions", "zsh"])).stdout);
  const z = await run("zsh", [
    "-fc",
    `path=(${t.root}/bin $path)
compdef() { :; }
compadd() { [[ $1 == -a ]] && print -rl -- \${(P)2}; }
source ${zsh}
words=(vm make x --templates +se); CURRENT=5; _vm | grep '^+serial-console$'; print -- --
words=(vm ssh ''); CURRENT=3; _vm; print -- --
words=(vm make x --image ''); CURRENT=5; _vm | grep '^my'`,
  ], t.env);
  assert.equal(z.code, 0, z.stderr);
  assert.deepEqual(z.stdout.split("--\n"), ["+serial-console\n", "cloud\n", "mydisk\n"]);
});
