/**
 * Unit tests of lib/vm_name.ts: which VM names are allowed.
 */

import assert from "node:assert/strict";
import { checkName, isValidName, MAX_NAME_BYTES, nameProblem } from "../../lib/vm/name.ts";
import { InvalidNameError, UsageError } from "../../lib/errors.ts";

const VALID = [
  "a",
  "Z",
  "0",
  "9",
  "debian",
  "Debian-12",
  "web.example.com",
  "vm_1",
  "a-",
  "a.",
  "a..b",
  "a--b",
  "0default",
  "x".repeat(64),
  "A1._-z",
];

/** Every refusal rule of the spec (and then some), with why. */
const INVALID: readonly [string, string][] = [
  ["", "empty"],
  [".", "dot"],
  ["..", "dot-dot"],
  ["/", "slash"],
  ["a/b", "slash inside"],
  ["a/", "trailing slash"],
  ["/a", "leading slash"],
  [".hidden", "leading dot"],
  [".default", "the default VM"],
  ["-a", "leading dash"],
  ["_a", "leading underscore"],
  ["a b", "space"],
  [" a", "leading space"],
  ["a ", "trailing space"],
  ["a\tb", "tab"],
  ["a\n", "trailing newline"],
  ["\na", "leading newline"],
  ["a\nb", "newline inside"],
  ["a\0b", "NUL"],
  ["a\x01", "control character"],
  ["a\x1b[0m", "escape sequence"],
  ["a\x7f", "DEL"],
  ["x".repeat(65), "65 bytes"],
  ["x".repeat(1000), "1000 bytes"],
  ["é", "non-ASCII letter"],
  ["vm-é", "non-ASCII inside"],
  ["日本", "CJK"],
  ["😀", "emoji"],
  ["a\u00a0b", "no-break space"],
  ["ａ", "fullwidth a"],
  ["a:b", "colon"],
  ["a*", "glob"],
  ["a'b", "quote"],
  ['a"b', "double quote"],
  ["a$b", "dollar"],
  ["a\\b", "backslash"],
  ["~", "tilde"],
  ["a,b", "comma"],
  ["a+b", "plus"],
  ["a@b", "at"],
];

Deno.test("MAX_NAME_BYTES is 64", () => {
  assert.equal(MAX_NAME_BYTES, 64);
});

Deno.test("valid names: letters, digits, . _ -, starting with a letter or digit, <= 64 bytes", () => {
  for (const name of VALID) {
    assert.equal(nameProblem(name), undefined, JSON.stringify(name));
    assert.equal(checkName(name), name);
    assert.equal(isValidName(name), true, JSON.stringify(name));
  }
});

Deno.test("invalid names are refused with InvalidNameError (exit 100)", () => {
  for (const [name, why] of INVALID) {
    const label = `${JSON.stringify(name)} (${why})`;
    assert.equal(isValidName(name), false, label);
    const problem = nameProblem(name);
    assert.equal(typeof problem, "string", label);
    assert.throws(
      () => checkName(name),
      (e: unknown) =>
        e instanceof InvalidNameError && e instanceof UsageError && e.exitCode === 100 &&
        e.message === problem,
      label,
    );
  }
});

Deno.test("nameProblem: the empty name says so", () => {
  assert.equal(nameProblem(""), "A VM name cannot be empty");
});

Deno.test("nameProblem: a name of 65 bytes is too long, 64 is fine", () => {
  assert.equal(nameProblem("a".repeat(64)), undefined);
  assert.equal(
    nameProblem("a".repeat(65)),
    `VM name "${"a".repeat(65)}" is longer than 64 bytes; choose a shorter one`,
  );
});

Deno.test("nameProblem: length is counted in bytes, not characters", () => {
  // 40 characters but 80 UTF-8 bytes.
  assert.match(nameProblem("é".repeat(40)) ?? "", /is longer than 64 bytes/);
  // 33 characters, 66 bytes.
  assert.match(nameProblem("a" + "é".repeat(32)) ?? "", /is longer than 64 bytes/);
});

Deno.test("nameProblem: the message quotes the name and says what is allowed", () => {
  assert.equal(
    nameProblem("a/b"),
    `Invalid VM name "a/b": use letters, digits, ".", "_" and "-", starting with a letter or digit`,
  );
  // Control characters are shown escaped, not raw.
  assert.equal(
    nameProblem("a\nb"),
    `Invalid VM name "a\\nb": use letters, digits, ".", "_" and "-", starting with a letter or digit`,
  );
});
