/**
 * Test support: a throwaway unprivileged user (as root), for the tests that
 * run vm as someone else (through `setpriv`). Not a test file.
 * @module
 */

import assert from "node:assert/strict";
import { run } from "./harness.ts";

/** A user made by {@link addTestUser}. */
export interface TestUser {
  name: string;
  uid: number;
  gid: number;
}

/** Makes a system user named `prefix` + this process's PID, no home, shell /bin/sh. */
export async function addTestUser(prefix: string): Promise<TestUser> {
  const name = `${prefix}${Deno.pid}`;
  const add = await run("useradd", ["--system", "--no-create-home", "-s", "/bin/sh", name]);
  assert.equal(add.code, 0, `useradd: ${add.stderr}`);
  const uid = Number((await run("id", ["-u", name])).stdout.trim());
  const gid = Number((await run("id", ["-g", name])).stdout.trim());
  return { name, uid, gid };
}

/** Removes a user {@link addTestUser} made. */
export async function removeTestUser(name: string): Promise<void> {
  const del = await run("userdel", [name]);
  assert.equal(del.code, 0, `userdel: ${del.stderr}`);
}
