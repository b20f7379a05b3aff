/**
 * Unit tests of setup/packages.sh's pure parts, run in sh: the install command
 * for each package manager, and whether apt's lists are empty, old or fresh.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO } from "../support/harness.ts";
import { withTempDir } from "../support/temp_dir.ts";

/** Runs `script` in sh after sourcing setup/packages.sh; returns its stdout. */
async function sh(script: string, env: Record<string, string> = {}): Promise<string> {
  const out = await new Deno.Command("sh", {
    args: ["-c", `. ${join(REPO, "setup/packages.sh")}\n${script}`],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test("pkg_command: each manager's install command, sudo prefix, apt-get update first", async () => {
  const cases: [string, string][] = [
    ['apt-get "" 0 a b', "apt-get install -y a b"],
    ['apt-get "sudo " 1 a b', "sudo apt-get update && sudo apt-get install -y a b"],
    ['apt-get "sudo " 1', "sudo apt-get update"],
    ['xbps-install "" 0 a', "xbps-install -Sy a"],
    ['pacman "sudo " 0 a b', "sudo pacman -S --needed --noconfirm a b"],
    ['dnf "" 0 a', "dnf install -y a"],
  ];
  for (const [args, want] of cases) {
    assert.equal(await sh(`pkg_command ${args}`), want + "\n", args);
  }
});

Deno.test("pkg_apt_lists: empty without a Packages file, fresh when updated today, old after a day", async () => {
  await withTempDir(async (dir) => {
    const lists = async () => (await sh("pkg_apt_lists", { VM_APT_LISTS: dir })).trim();
    Deno.writeTextFileSync(join(dir, "lock"), "");
    assert.equal(await lists(), "empty");
    Deno.writeTextFileSync(join(dir, "x_main_binary-amd64_Packages.lz4"), "");
    assert.equal(await lists(), "fresh");
    const twoDaysAgo = new Date(Date.now() - 2 * 86400_000);
    Deno.utimeSync(dir, twoDaysAgo, twoDaysAgo);
    assert.equal(await lists(), "old");
    assert.equal(
      (await sh("pkg_apt_lists", { VM_APT_LISTS: join(dir, "nosuch") })).trim(),
      "empty",
    );
  });
});
