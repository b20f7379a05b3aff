// Unit tests of the bounds of a VM's `wait`: whole
// seconds 0…86400 when given to make (a usage error otherwise) and when read
// from the `wait` file (the default, with the reason, otherwise).

import assert from "node:assert/strict";
import { join } from "node:path";
import { MAX_WAIT_S, parseWholeSeconds } from "../../lib/text/units.ts";
import { checkWait } from "../../lib/vm/dir.ts";
import { DEFAULT_WAIT, readWait, waitOf } from "../../lib/vm/dir.ts";
import { usageFails } from "../support/fails.ts";
import { withTempDir } from "../support/temp_dir.ts";

Deno.test("parseWholeSeconds: 0…86400, nothing else", () => {
  assert.equal(MAX_WAIT_S, 86400);
  assert.equal(parseWholeSeconds("0"), 0);
  assert.equal(parseWholeSeconds(" 86400\n"), 86400);
  for (const t of ["86401", "99999999999999999999", "1e3", "-1", "1.5", "", "ten"]) {
    assert.equal(parseWholeSeconds(t), undefined, t);
  }
});

Deno.test("checkWait: out of range is a usage error naming the range", () => {
  assert.equal(checkWait("30"), "30");
  assert.equal(checkWait("007"), "7");
  for (const t of ["99999999999999999999", "86401", "-1", "x"]) {
    assert.match(usageFails(() => checkWait(t)), /is not a number of seconds from 0 to 86400/);
  }
});

Deno.test("waitOf/readWait: the file's seconds, else the default and why", async () => {
  await withTempDir((dir) => {
    assert.deepEqual(waitOf(dir), { wait: DEFAULT_WAIT });
    Deno.writeTextFileSync(join(dir, "wait"), "45\n");
    assert.deepEqual(waitOf(dir), { wait: 45 });
    Deno.writeTextFileSync(join(dir, "wait"), "100000000000000000000\n");
    const r = waitOf(dir);
    assert.equal(r.wait, DEFAULT_WAIT);
    assert.equal(
      r.problem,
      `"${dir}/wait" holds "100000000000000000000", not whole seconds from 0 to 86400; ` +
        `10 s is used: write e.g. "echo 30 > ${dir}/wait"`,
    );
    assert.equal(readWait(dir), DEFAULT_WAIT);
    // A symlink out of the VM directory is not followed.
    Deno.removeSync(join(dir, "wait"));
    Deno.writeTextFileSync(join(dir, "..", `outside-${Deno.pid}`), "3\n");
    try {
      Deno.symlinkSync(join(dir, "..", `outside-${Deno.pid}`), join(dir, "wait"));
      assert.equal(readWait(dir), DEFAULT_WAIT);
      assert.match(waitOf(dir).problem ?? "", /is a symbolic link to .*outside its VM's directory/);
    } finally {
      Deno.removeSync(join(dir, "..", `outside-${Deno.pid}`));
    }
  });
});
