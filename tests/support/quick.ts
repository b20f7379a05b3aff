/**
 * `deno task test:quick`, for the edit-test loop (under 4 min on 2 cores):
 * the unit tests and every e2e file but the slow ones, each of which says so
 * in its first comment with the words `left out of test:quick`. `deno task
 * test` (and CI) still runs everything. Not a test file.
 *
 *     deno run -A tests/support/quick.ts [deno test options]
 *
 * @module
 */

import { join } from "node:path";

/** The marker a slow e2e file carries in its first comment. */
export const SLOW_MARK = "left out of test:quick";

/** The e2e test files of `dir` without the slow marker, sorted. */
export function quickFiles(dir: string): string[] {
  return [...Deno.readDirSync(dir)]
    .map((e) => e.name)
    .filter((n) => n.endsWith("_test.ts"))
    .filter((n) => !Deno.readTextFileSync(join(dir, n)).slice(0, 2000).includes(SLOW_MARK))
    .sort()
    .map((n) => join(dir, n));
}

if (import.meta.main) {
  const tests = new URL("..", import.meta.url).pathname;
  const files = [join(tests, "unit"), ...quickFiles(join(tests, "e2e"))];
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", "--quiet", ...Deno.args, ...files],
  }).spawn().status;
  Deno.exit(out.code);
}
