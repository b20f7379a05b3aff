// lib/path.ts agrees with node:path's posix functions.

import assert from "node:assert/strict";
import * as node from "node:path";
import {
  basename,
  dirname,
  isAbsolute,
  join,
  normalize,
  relative,
  resolve,
} from "../../lib/os/path.ts";

const PATHS = [
  "",
  ".",
  "..",
  "/",
  "//",
  "a",
  "a/",
  "a//b",
  "/a/b/",
  "./a",
  "../a",
  "a/../..",
  "/a/../..",
  "a/./b/../c",
  "/x/y/../../..",
  "a/b/..",
  "a/..",
  "../../a/b",
  "/my vms/disk one.qcow2",
  "drive.qcow2",
  ".default",
];

Deno.test("normalize, isAbsolute, basename, dirname agree with node:path", () => {
  for (const p of PATHS) {
    assert.equal(normalize(p), node.normalize(p), `normalize(${JSON.stringify(p)})`);
    assert.equal(isAbsolute(p), node.isAbsolute(p), `isAbsolute(${JSON.stringify(p)})`);
    assert.equal(basename(p), node.basename(p), `basename(${JSON.stringify(p)})`);
    assert.equal(dirname(p), node.dirname(p), `dirname(${JSON.stringify(p)})`);
  }
  assert.equal(basename("/a/disk.qcow2", ".qcow2"), "disk");
  assert.equal(basename("/a/.qcow2", ".qcow2"), ".qcow2");
});

Deno.test("join, resolve, relative agree with node:path", () => {
  for (const a of PATHS) {
    for (const b of PATHS) {
      const what = `(${JSON.stringify(a)}, ${JSON.stringify(b)})`;
      assert.equal(join(a, b), node.join(a, b), `join${what}`);
      assert.equal(resolve(a, b), node.resolve(a, b), `resolve${what}`);
      assert.equal(relative(a, b), node.relative(a, b), `relative${what}`);
    }
  }
  assert.equal(join(), node.join());
  assert.equal(join("/a", "b", "../c", "d/"), node.join("/a", "b", "../c", "d/"));
  assert.equal(resolve(), Deno.cwd());
});
