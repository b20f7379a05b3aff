/**
 * Test support: the repository's root and its source files, for tests that
 * read the source itself. Not a test file.
 * @module
 */

import { join } from "node:path";

/** The repository root (absolute, no trailing slash). */
export const REPO = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

/** Every `.ts` file below `dir` (relative to {@link REPO}), as repository-relative paths. */
export function sources(dir: string, out: string[] = []): string[] {
  for (const e of Deno.readDirSync(join(REPO, dir))) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory) sources(rel, out);
    else if (e.name.endsWith(".ts")) out.push(rel);
  }
  return out;
}
