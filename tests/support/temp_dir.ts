/**
 * Test support: a temporary directory that lives as long as one callback.
 * Not a test file.
 * @module
 */

import { recordTestRoot } from "./roots.ts";

/**
 * Runs `fn` with a new, empty temp directory (`vm-test-…` under $TMPDIR, its
 * path with symlinks resolved) and removes that directory and everything in
 * it afterwards, whether `fn` returned or threw. Returns what `fn` returns.
 */
export async function withTempDir<T>(fn: (dir: string) => T | Promise<T>): Promise<T> {
  const dir = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "vm-test-" }));
  recordTestRoot(dir);
  try {
    return await fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
