/**
 * Extended attributes (`user.*`) of a file, through FFI on libc's setxattr(2)
 * and getxattr(2) (needs `--allow-ffi`). They let a file carry a little data
 * about itself without another file next to it (a `.part` download keeps its
 * expected size there). A file system without user xattrs simply has none:
 * setting fails softly. libc is opened on first use only.
 * @module
 */

import { cString } from "./libc.ts";

const SYMBOLS = {
  setxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  getxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
} as const;

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

function xattrLib(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  lib ??= Deno.dlopen("libc.so.6", SYMBOLS);
  return lib.symbols;
}

/** Largest value read back, in bytes. */
const MAX_VALUE = 4096;

/** Sets attribute `name` (e.g. `user.vm.total`) of `path` to `value`; returns whether it worked. Writes `path`'s attributes. */
export function setXattr(path: string, name: string, value: string): boolean {
  const v = new TextEncoder().encode(value);
  return xattrLib().setxattr(cString(path), cString(name), v, BigInt(v.length), 0) === 0;
}

/** The value of attribute `name` of `path`, or undefined when it has none (or cannot be read). */
export function getXattr(path: string, name: string): string | undefined {
  const buf = new Uint8Array(MAX_VALUE);
  const n = Number(xattrLib().getxattr(cString(path), cString(name), buf, BigInt(buf.length)));
  return n < 0 ? undefined : new TextDecoder().decode(buf.subarray(0, n));
}
