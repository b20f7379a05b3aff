// The check tests/support/roots.ts runs after every test file: no process may
// still work in a temp directory a test of that file made. Here it is shown
// to see such a process, and, in a `deno test` run of two small test files,
// to fail the file that left one (after its last test, naming the process,
// which it kills) and not the next one, whose test cleaned up.

import assert from "node:assert/strict";
import { join } from "node:path";
import { recordedRoots, stragglers } from "../support/roots.ts";
import { alive, TestEnv, waitFor } from "../support/harness.ts";
import { withTempDir } from "../support/temp_dir.ts";
import { signal } from "../../lib/os/proc.ts";

Deno.test("the leftover check sees a process working in a test's temp dir", async () => {
  const t = TestEnv.create();
  const child = new Deno.Command("sleep", { args: ["600"], cwd: t.vmdir, stdin: "null" }).spawn();
  try {
    assert.ok(recordedRoots().includes(t.root), "TestEnv records its root");
    const found = stragglers([t.root]).map((s) => s.pid);
    assert.deepEqual(found, [child.pid]);
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await t.close();
  }
  assert.deepEqual(stragglers([t.root]), []);
});

/** A test file whose test starts `sleep 600` in its temp dir, writes its PID to `pidFile`, and kills it unless `leave`. */
function sleeperFile(pidFile: string, leave: boolean): string {
  const tempDir = new URL("../support/temp_dir.ts", import.meta.url).href;
  const name = `starts sleep 600 in its temp dir${leave ? " and leaves it" : ", then kills it"}`;
  const end = leave ? "sleep.unref();" : 'sleep.kill("SIGKILL");\n    await sleep.status;';
  return `import { withTempDir } from ${JSON.stringify(tempDir)};
Deno.test(${JSON.stringify(name)}, async () => {
  await withTempDir(async (dir) => {
    const sleep = new Deno.Command("sleep", { args: ["600"], cwd: dir, stdin: "null" }).spawn();
    Deno.writeTextFileSync(${JSON.stringify(pidFile)}, String(sleep.pid));
    ${end}
  });
});
Deno.test("a later test of the same file", () => {});
`;
}

Deno.test("a test file that leaves a process in its temp dir fails after its last test, naming it", async () => {
  await withTempDir(async (dir) => {
    const left = join(dir, "left.pid");
    Deno.writeTextFileSync(join(dir, "a_leaves_test.ts"), sleeperFile(left, true));
    Deno.writeTextFileSync(join(dir, "b_tidy_test.ts"), sleeperFile(join(dir, "tidy.pid"), false));
    let pid = 0;
    try {
      const run = await new Deno.Command(Deno.execPath(), {
        args: ["test", "--allow-all", "--no-check", "a_leaves_test.ts", "b_tidy_test.ts"],
        cwd: dir,
        env: { NO_COLOR: "1" },
        stdin: "null",
      }).output();
      pid = Number(Deno.readTextFileSync(left));
      const out = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
      assert.notEqual(run.code, 0, out);
      const named = new RegExp(
        `processes left working in the temp dirs of this file's tests \\(killed now\\):\\n` +
          ` +PID ${pid} in /\\S+ \\(deleted\\): \\S*sleep 600\\n`,
      );
      assert.match(out, named);
      assert.match(out, /^\.\/a_leaves_test\.ts \(uncaught error\)$/m, out);
      assert.match(out, /\| 4 passed \| 1 failed/, "every test passed; a_leaves_test.ts failed");
      const last = out.indexOf("a later test of the same file ... ok");
      const check = out.indexOf("Uncaught error from ./a_leaves_test.ts");
      assert.ok(last >= 0 && last < check, `the check runs after the last test:\n${out}`);
      assert.ok(await waitFor(() => !alive(pid), 5000), `PID ${pid} was not killed`);
    } finally {
      if (pid > 0) signal(pid, "SIGKILL");
    }
  });
});
