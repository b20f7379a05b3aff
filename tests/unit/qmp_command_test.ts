// lib/qmp_command.ts: vm qmp's JSON arguments, and a VM that is not running.
// (Real QMP commands against QEMU are in access_test.ts.)

import assert from "node:assert/strict";
import { CheckFailedError, UsageError } from "../../lib/errors.ts";
import { parseQmpArguments, runQmp } from "../../lib/qemu/qmp_command.ts";
import { withTempDir } from "../support/temp_dir.ts";

Deno.test("parseQmpArguments: a JSON object, anything else is a usage error", () => {
  assert.deepEqual(parseQmpArguments('{"device": "ide1-cd0", "force": true}'), {
    device: "ide1-cd0",
    force: true,
  });
  assert.deepEqual(parseQmpArguments("{}"), {});
  for (const bad of ["{device: 1}", "", "[1]", "null", '"x"', "3"]) {
    assert.throws(
      () => parseQmpArguments(bad),
      (e: unknown) =>
        e instanceof UsageError && e.exitCode === 100 && /^QMP arguments /.test(e.message),
      bad,
    );
  }
});

Deno.test("runQmp: a VM that is not running is a failed check, not a hang", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      () => runQmp("t1", dir, "query-status", undefined, 1000),
      (e: unknown) =>
        e instanceof CheckFailedError &&
        e.message === 'VM "t1" is not running; start it with "vm start t1"',
    );
  });
});
