// Runs every benchmark in bench/ (each bench/*.ts but this runner), one after
// another, their output passing through; exits 1 if any failed.

import { basename } from "node:path";

const dir = new URL(".", import.meta.url).pathname;
const self = basename(new URL(import.meta.url).pathname);
const files = [...Deno.readDirSync(dir)]
  .filter((e) => e.isFile && e.name.endsWith(".ts") && e.name !== self)
  .map((e) => e.name)
  .sort();
let failed = 0;
for (const f of files) {
  console.log(`== bench/${f}`);
  const st = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", dir + f],
    stdin: "null",
  }).spawn().status;
  if (!st.success) {
    console.log(`bench/${f} failed (exit ${st.code})`);
    failed++;
  }
}
Deno.exit(failed === 0 ? 0 : 1);
