/**
 * Other programs `vm` hands over to: finding them in PATH (with the package
 * to install when one is missing) and replacing this process with one (`vm
 * ssh`, `vm cp`), so its exit code is the program's.
 * @module
 */

import { UsageError } from "../../lib/errors.ts";
import { execve, findExecutable } from "../../lib/os/exec.ts";

/** The path of `program` in PATH. Throws UsageError naming the package `pkg`. */
function findProgram(program: string, pkg: string): string {
  const found = findExecutable(program, Deno.env.get("PATH") ?? "/usr/bin:/bin", Deno.cwd());
  if (found === undefined) throw new UsageError(`"${program}" is not in PATH; install ${pkg}`);
  return found;
}

/** Replaces this process with `argv` (argv[0] looked up in PATH); its exit code is the command's. */
export function execProgram(argv: readonly string[], pkg: string): never {
  return execve(findProgram(argv[0] ?? "", pkg), argv, Deno.env.toObject(), Deno.cwd());
}
