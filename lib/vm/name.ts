/**
 * VM names: letters, digits, `.`, `_`, `-`, starting with a letter or digit,
 * at most 64 bytes. So a name is always one plain directory entry of `$VMDIR`
 * that runsvdir supervises (runsvdir skips dot-names). Pure.
 * @module
 */

import { InvalidNameError } from "../errors.ts";

/** Longest VM name, in bytes. */
export const MAX_NAME_BYTES = 64;

const VALID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Returns the reason `name` is not a valid VM name, or undefined when it is. */
export function nameProblem(name: string): string | undefined {
  const shown = JSON.stringify(name);
  if (name === "") return "A VM name cannot be empty";
  // Bytes, not UTF-16 code units (non-ASCII names are refused below anyway).
  if (new TextEncoder().encode(name).length > MAX_NAME_BYTES) {
    return `VM name ${shown} is longer than ${MAX_NAME_BYTES} bytes; choose a shorter one`;
  }
  if (!VALID.test(name)) {
    return `Invalid VM name ${shown}: use letters, digits, ".", "_" and "-", starting with a letter or digit`;
  }
  return undefined;
}

/** Returns `name` when it is a valid VM name; throws InvalidNameError (exit 100) otherwise. */
export function checkName(name: string): string {
  const problem = nameProblem(name);
  if (problem !== undefined) throw new InvalidNameError(problem);
  return name;
}

/** Whether `name` is a valid VM name (VALID allows ASCII only: its length is its bytes). */
export function isValidName(name: string): boolean {
  return name.length <= MAX_NAME_BYTES && VALID.test(name);
}
