// install.sh in a fresh HOME, as a new user would run it, and re-run.

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { REPO } from "../support/harness.ts";

interface Snapshot {
  [path: string]: string;
}

/** Every file under `dir` with its content and mtime (symlinks by target). */
function snapshot(dir: string, out: Snapshot = {}): Snapshot {
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) snapshot(p, out);
    else if (e.isSymlink) out[p] = "-> " + Deno.readLinkSync(p);
    else out[p] = `${Deno.statSync(p).mtime?.getTime()} ${Deno.readTextFileSync(p)}`;
  }
  return out;
}

async function sh(cmd: string, args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(cmd, { args, env, clearEnv: true, stdin: "null" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("install.sh in a fresh HOME installs vm and .default; re-running changes nothing", async () => {
  const home = Deno.makeTempDirSync({ prefix: "vm-install-" });
  try {
    const env = {
      HOME: home,
      PATH: `${dirname(Deno.execPath())}:/usr/bin:/bin`,
      BINDIR: join(home, ".local/bin"),
      LIBDIR: join(home, ".local/lib/vm"),
    };
    const first = await sh(join(REPO, "install.sh"), [], env);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.match(first.stdout, /(compiled vm|vm launcher .*) installed: .*\/\.local\/bin\/vm/);
    assert.match(first.stdout, /17 template\(s\) added/);
    assert.match(first.stdout, /Next: start vmd/);
    const vm = join(home, ".local/bin/vm");
    const vmdir = join(home, ".local/share/runit-vm");
    // The service scripts name the installed binary by its absolute path.
    assert.equal(
      Deno.readTextFileSync(join(vmdir, ".default/run")),
      `#!/bin/sh\nexec 2>&1; exec ${vm} __run "$PWD"\n`,
    );
    assert.equal([...Deno.readDirSync(join(vmdir, ".default/templates"))].length, 17);

    // vm works with a minimal PATH (as under a systemd user unit).
    const help = await sh(vm, ["help"], { HOME: home, PATH: "/usr/bin:/bin" });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^vm - QEMU virtual machines as runit services/);
    const list = await sh(vm, ["list", "--json"], { HOME: home, PATH: "/usr/bin:/bin" });
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), []);

    // The user edits a template; re-running install.sh keeps it and changes nothing else.
    const mem = join(vmdir, ".default/templates/mem");
    Deno.writeTextFileSync(mem, "-m 3G\n");
    const before = { ...snapshot(join(home, ".local")) };
    await new Promise((r) => setTimeout(r, 20));
    const second = await sh(join(REPO, "install.sh"), [], env);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    assert.match(second.stdout, /unchanged: .*\/\.local\/bin\/vm/);
    assert.match(second.stdout, /kept your edited template "mem"/);
    assert.equal(Deno.readTextFileSync(mem), "-m 3G\n");
    assert.deepEqual(snapshot(join(home, ".local")), before);
  } finally {
    Deno.removeSync(home, { recursive: true });
  }
});

Deno.test("install.sh refuses unknown arguments with exit 100", async () => {
  const r = await sh(join(REPO, "install.sh"), ["--frobnicate"], {
    HOME: "/nonexistent",
    PATH: "/usr/bin:/bin",
  });
  assert.equal(r.code, 100);
  assert.match(r.stderr, /unknown argument "--frobnicate"/);
});
