/**
 * Test support: what is on the file system, for tests that need a real tool.
 * Not a test file.
 * @module
 */

/** Whether `path` is a regular file (after symlinks); false when nothing is there. */
export function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
