/**
 * Test support: one variable of an environment block (lib/os/proc.ts
 * parseEnviron). Not a test file.
 * @module
 */

import { parseEnviron } from "../../lib/os/proc.ts";

/** The value of `name` in an environ block. Pure. */
export function environValue(raw: string, name: string): string | undefined {
  const env = parseEnviron(raw);
  return Object.hasOwn(env, name) ? env[name] : undefined;
}
