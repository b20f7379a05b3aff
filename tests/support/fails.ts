/**
 * Test support: assertions that a call fails with one of lib/errors.ts's
 * typed errors. Not a test file.
 * @module
 */

import assert from "node:assert/strict";
import { EXIT_USAGE, ParseError, UsageError } from "../../lib/errors.ts";

/** What `fn` threw, or undefined when it returned. */
function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/**
 * Asserts that `fn` throws a ParseError (a UsageError, exit 100) for `file`
 * at `line`, whose message starts with `<file>:<line>: `; returns the message.
 */
export function parseFails(fn: () => unknown, file: string, line: number): string {
  const caught = thrownBy(fn);
  assert.ok(caught instanceof ParseError, `expected a ParseError, got ${String(caught)}`);
  assert.ok(caught instanceof UsageError);
  assert.equal(caught.exitCode, 100);
  assert.equal(caught.exitCode, EXIT_USAGE);
  assert.equal(caught.file, file);
  assert.equal(caught.line, line);
  assert.ok(
    caught.message.startsWith(`${file}:${line}: `),
    `message ${JSON.stringify(caught.message)} should start with "${file}:${line}: "`,
  );
  return caught.message;
}

/** Asserts that `fn` throws a UsageError (exit 100); returns its message. */
export function usageFails(fn: () => unknown): string {
  const caught = thrownBy(fn);
  assert.ok(caught instanceof UsageError, `expected a UsageError, got ${String(caught)}`);
  assert.equal(caught.exitCode, 100);
  return caught.message;
}
