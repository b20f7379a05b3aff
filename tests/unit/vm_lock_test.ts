// lib/vm/lock.ts: a VM's lock is an exclusive flock on `<vm>/.lock` (0600,
// made when missing); a second holder waits, and past its wait gets one
// line; a planted symlink is never locked through; the lock ends with the
// work, also when the work throws.

import assert from "node:assert/strict";
import { join } from "node:path";
import { SystemError } from "../../lib/errors.ts";
import { withVmdirLock, withVmLock } from "../../lib/vm/lock.ts";
import { withTempDir } from "../support/temp_dir.ts";

Deno.test("a VM's lock: one holder at a time, a bounded wait, released after a throw", async () => {
  await withTempDir(async (dir) => {
    const order: string[] = [];
    let release = () => {};
    const held = new Promise<void>((r) => release = r);
    const first = withVmLock(dir, "web", async () => {
      order.push("first in");
      await held;
      order.push("first out");
    });
    await assert.rejects(
      () => withVmLock(dir, "web", () => order.push("never"), 100),
      (e) =>
        e instanceof SystemError &&
        /^VM "web" is being changed by another vm command \(it holds ".*\/\.lock"/.test(e.message),
    );
    const second = withVmLock(dir, "web", () => order.push("second"));
    release();
    await Promise.all([first, second]);
    assert.deepEqual(order, ["first in", "first out", "second"]);
    assert.equal(Deno.statSync(join(dir, ".lock")).mode! & 0o777, 0o600);
    await assert.rejects(() => withVmLock(dir, "web", () => Promise.reject(new Error("boom"))));
    assert.equal(await withVmLock(dir, "web", () => 42, 100), 42);
    // The VMDIR's lock is another one: held with a VM's without waiting.
    const vm = join(dir, "vm");
    Deno.mkdirSync(vm);
    assert.equal(await withVmdirLock(dir, () => withVmLock(vm, "vm", () => 1, 100)), 1);
  });
});

Deno.test("a planted symlink in place of the lock file is refused, its target untouched", async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, "precious");
    Deno.writeTextFileSync(target, "data");
    Deno.mkdirSync(join(dir, "vm"));
    Deno.symlinkSync(target, join(dir, "vm", ".lock"));
    await assert.rejects(
      () => withVmLock(join(dir, "vm"), "vm", () => 1),
      (e) =>
        e instanceof SystemError &&
        /is not a regular file \(a planted symbolic link\?\)/.test(e.message),
    );
    assert.equal(Deno.readTextFileSync(target), "data");
  });
});
