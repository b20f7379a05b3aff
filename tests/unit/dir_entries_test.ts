/**
 * Tests of lib/os/lookup.ts dirEntries against Deno.readDirSync,
 * and of lib/vm/dir.ts readVmDirs against listVms: a listing reads each VM
 * directory once and finds the same VMs.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { dirEntries, type EntryType, entryType } from "../../lib/os/lookup.ts";
import { listVms, readVmDirs, vmEntries } from "../../lib/vm/dir.ts";
import { withTempDir } from "../support/temp_dir.ts";

/** The entries of `dir` by Deno.readDirSync, typed as dirEntries types them. */
function denoEntries(dir: string): Map<string, EntryType> {
  const out = new Map<string, EntryType>();
  for (const e of Deno.readDirSync(dir)) {
    out.set(e.name, e.isFile ? "file" : e.isDirectory ? "dir" : e.isSymlink ? "symlink" : "other");
  }
  return out;
}

Deno.test("dirEntries: every entry with its type, as Deno.readDirSync sees them", () =>
  withTempDir(async (dir) => {
    Deno.writeTextFileSync(join(dir, "file"), "x");
    Deno.mkdirSync(join(dir, "sub"));
    Deno.symlinkSync("nowhere", join(dir, "dangling"));
    Deno.symlinkSync("file", join(dir, "link"));
    const mk = await new Deno.Command("mkfifo", { args: [join(dir, "fifo")] }).output();
    assert.ok(mk.success);
    // Many long names: more than one read of the directory (32 KiB).
    for (let i = 0; i < 300; i++) Deno.writeTextFileSync(join(dir, `${"n".repeat(200)}${i}`), "");
    const got = dirEntries(dir);
    assert.deepEqual(got, denoEntries(dir));
    assert.equal(got?.get("fifo"), "other");
    assert.equal(got?.get("dangling"), "symlink");
    assert.equal(got?.size, 305);
  }));

Deno.test("dirEntries: undefined for what is no readable directory", () =>
  withTempDir((dir) => {
    Deno.writeTextFileSync(join(dir, "file"), "x");
    assert.equal(dirEntries(join(dir, "missing")), undefined);
    assert.equal(dirEntries(join(dir, "file")), undefined);
    assert.deepEqual(dirEntries(dir), new Map([["file", "file"]]));
  }));

Deno.test("entryType: the type bits of st_mode", () => {
  assert.equal(entryType(0o100600), "file");
  assert.equal(entryType(0o040700), "dir");
  assert.equal(entryType(0o120777), "symlink");
  assert.equal(entryType(0o010600), "other");
});

Deno.test("readVmDirs finds the VMs listVms finds, in its order, with their entries", () =>
  withTempDir((vmdir) => {
    const vm = (name: string, files: string[]) => {
      Deno.mkdirSync(join(vmdir, name));
      for (const f of files) Deno.writeTextFileSync(join(vmdir, name, f), "");
    };
    vm("b", ["run", "wait", "down"]);
    vm("a", ["run"]);
    vm("no-run", ["wait"]);
    vm(".hidden", ["run"]);
    vm("bad name", ["run"]);
    Deno.mkdirSync(join(vmdir, "dangling"));
    Deno.symlinkSync("nowhere", join(vmdir, "dangling", "run"));
    Deno.mkdirSync(join(vmdir, "linked"));
    Deno.writeTextFileSync(join(vmdir, "script"), "");
    Deno.symlinkSync("../script", join(vmdir, "linked", "run"));
    Deno.symlinkSync("a", join(vmdir, "alias"));
    const dirs = readVmDirs(vmdir);
    assert.deepEqual([...dirs.keys()], listVms(vmdir));
    assert.deepEqual([...dirs.keys()], ["a", "alias", "b", "linked"]);
    assert.deepEqual(dirs.get("b"), new Map([["run", "file"], ["wait", "file"], ["down", "file"]]));
    assert.equal(dirs.get("linked")?.get("run"), "symlink");
    assert.deepEqual(vmEntries(join(vmdir, "gone")), new Map());
    assert.deepEqual(readVmDirs(join(vmdir, "none")), new Map());
  }));
