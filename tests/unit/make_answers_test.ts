// The answers vm make's questions take (the wait
// with the unit it shows, y/N strictly) and the template words --templates
// completes (+name, -name).

import assert from "node:assert/strict";
import { UsageError } from "../../lib/errors.ts";
import { checkWait } from "../../lib/vm/dir.ts";
import { yesNo } from "../../cli/core/prompt.ts";
import { templateWords } from "../../cli/commands/completions.ts";
import { cpVmNamed } from "../../lib/ssh/ssh_args.ts";

Deno.test("checkWait: the unit the question shows (30s, 30 s) is taken; other words are not", () => {
  for (const w of ["30", "30s", "30 s", " 30S "]) assert.equal(checkWait(w), "30", w);
  for (const w of ["30 min", "s", "lots", "30ss", "-1", "86401"]) {
    assert.throws(() => checkWait(w), UsageError, w);
  }
});

Deno.test("yesNo: y/yes, n/no/empty; anything else (maybe) is no answer", () => {
  for (const a of ["y", "Y", "yes", "YES"]) assert.equal(yesNo(a), true, a);
  for (const a of ["", "n", "N", "no"]) assert.equal(yesNo(a), false, a);
  for (const a of ["maybe", "yep", "nope", "1"]) {
    assert.throws(() => yesNo(a), /is neither yes nor no; answer y or n \(empty: n\)/, a);
  }
});

Deno.test("templateWords: +name and -name (and -*) as the word being completed starts", () => {
  const names = ["mem", "vnc"];
  assert.deepEqual(templateWords(names), ["mem", "vnc"]);
  assert.deepEqual(templateWords(names, "+v"), ["+mem", "+vnc"]);
  assert.deepEqual(templateWords(names, "-"), ["-mem", "-vnc", "-*"]);
});

Deno.test("cpVmNamed: the VM name a vm cp operand seems to give", () => {
  assert.equal(cpVmNamed("nosuchvm:/tmp/"), "nosuchvm");
  assert.equal(cpVmNamed("./f:x"), undefined);
  assert.equal(cpVmNamed("/tmp/f.txt"), undefined);
  assert.equal(cpVmNamed(":x"), undefined);
});
