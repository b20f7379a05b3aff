// cli/core/suggest.ts: "did you mean" for an unknown command.

import assert from "node:assert/strict";
import { editDistance, nearest, unknownCommand } from "../../cli/core/suggest.ts";
import { allCommands, visibleNames } from "../../cli/core/command_list.ts";

const NAMES = visibleNames(await allCommands());

Deno.test("editDistance: a swap of neighbours is one edit", () => {
  assert.equal(editDistance("stpo", "stop"), 1);
  assert.equal(editDistance("stop", "stop"), 0);
  assert.equal(editDistance("", "abc"), 3);
  assert.equal(editDistance("kitten", "sitting"), 3);
});

Deno.test("nearest: typos of real commands, nothing for far words", () => {
  assert.equal(nearest("stpo", NAMES), "stop");
  assert.equal(nearest("lsit", NAMES), "list");
  assert.equal(nearest("strat", NAMES), "start");
  assert.equal(nearest("consle", NAMES), "console");
  assert.equal(nearest("snap", NAMES), "snapshot");
  assert.equal(nearest("frobnicate", NAMES), undefined);
  assert.equal(nearest("x", NAMES), undefined);
});

Deno.test("unknownCommand: the message, with and without a suggestion", () => {
  assert.equal(
    unknownCommand("stpo", NAMES),
    '"stpo" is not a vm command (did you mean "stop"?); see "vm help"',
  );
  assert.equal(
    unknownCommand("frobnicate", NAMES),
    '"frobnicate" is not a vm command; see "vm help"',
  );
});
