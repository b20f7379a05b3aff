// main.ts: an error no command caught (a timer's, a promise nobody awaits)
// ends vm as any error does: one `vm: fatal:` line and exit 111, no stack trace.

import assert from "node:assert/strict";

const MAIN = new URL("../../main.ts", import.meta.url).href;

/** Runs `code` after main.ts's exitOnUncaught() in a fresh Deno; its exit code and stderr. */
async function uncaught(code: string): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { exitOnUncaught } from ${JSON.stringify(MAIN)}; exitOnUncaught(); ${code}`,
    ],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("exitOnUncaught: an error thrown in a timer is one vm: fatal: line, exit 111", async () => {
  const r = await uncaught(
    `setTimeout(() => { throw new Error("No such process (os error 3): readfile '/proc/1/x'"); });`,
  );
  assert.equal(r.stderr, "vm: fatal: No such process (os error 3): readfile '/proc/1/x'\n");
  assert.equal(r.code, 111);
});

Deno.test("exitOnUncaught: a rejected promise nobody awaits; a VmError keeps its exit code", async () => {
  let r = await uncaught(`Promise.reject(new Error("gone\\nat somewhere"));`);
  assert.equal(r.stderr, "vm: fatal: gone\n");
  assert.equal(r.code, 111);
  const errors = JSON.stringify(new URL("../../lib/errors.ts", import.meta.url).href);
  r = await uncaught(
    `const { UsageError } = await import(${errors}); Promise.reject(new UsageError("bad"));`,
  );
  assert.equal(r.stderr, "vm: fatal: bad\n");
  assert.equal(r.code, 100);
});
