/**
 * Output and option helpers of the cloud commands (ssh, cp, ip, exec, port,
 * cloud-init): writing to stdout/stderr synchronously, reading option
 * values of an Invocation, finding a program in PATH and replacing this
 * process with it.
 * @module
 */

import { UsageError } from "../lib/errors.ts";
import { join } from "../lib/os/path.ts";
import { execve } from "../lib/os/exec.ts";
import type { Invocation } from "./command.ts";

const encoder = new TextEncoder();

function writeSync(f: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let off = 0;
  while (off < bytes.length) off += f.writeSync(bytes.subarray(off));
}

/** Writes `text` and a newline to stdout. */
export function print(text = ""): void {
  writeSync(Deno.stdout, text + "\n");
}

/** Writes `text` and a newline to stderr. */
export function printErr(text: string): void {
  writeSync(Deno.stderr, text + "\n");
}

/** Writes bytes to stdout or stderr. */
export function writeBytes(to: "stdout" | "stderr", bytes: Uint8Array): void {
  const f = to === "stdout" ? Deno.stdout : Deno.stderr;
  let off = 0;
  while (off < bytes.length) off += f.writeSync(bytes.subarray(off));
}

/** Option `name` as a string (undefined when absent). */
export function optString(inv: Invocation, name: string): string | undefined {
  const v = inv.opts[name];
  if (v === undefined || v === false) return undefined;
  if (typeof v === "string") return v;
  if (Array.isArray(v)) return v.at(-1);
  throw new UsageError(`"--${name}" needs a value`);
}

/** Option `name` as a list (repeatable options; one string counts as one). */
export function optList(inv: Invocation, name: string): string[] | undefined {
  const v = inv.opts[name];
  if (v === undefined || v === false) return undefined;
  if (Array.isArray(v)) return v;
  if (typeof v === "string") return [v];
  throw new UsageError(`"--${name}" needs a value`);
}

/** Whether flag `name` was given. */
export function optFlag(inv: Invocation, name: string): boolean {
  return inv.opts[name] === true;
}

/** Whole seconds > 0 from an option value. Throws UsageError. */
export function seconds(value: string, option: string): number {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value) || Number(value) <= 0) {
    throw new UsageError(`"--${option}" needs seconds (e.g. 120), not "${value}"`);
  }
  return Number(value);
}

/** The path of `program` in PATH. Throws UsageError naming the package. */
export function findProgram(program: string, pkg: string): string {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    const p = join(dir || ".", program);
    try {
      const st = Deno.statSync(p);
      if (st.isFile && ((st.mode ?? 0) & 0o111) !== 0) return p;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory)) throw e;
    }
  }
  throw new UsageError(`"${program}" is not in PATH; install ${pkg}`);
}

/**
 * Replaces this process with `argv` (argv[0] looked up in PATH); its exit code is the command's.
 */
export function execProgram(argv: readonly string[], pkg: string): never {
  const path = findProgram(argv[0] ?? "", pkg);
  return execve(path, argv, Deno.env.toObject());
}
