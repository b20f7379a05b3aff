// Benchmark of `vm list` (state read from the service directories, no
// subprocess per VM), with baselines measured in the same run:
// - a bare `deno run` of an empty script (Deno's start): target `vm list` on
//   1000 VMs at most 2x that (module loading and the work together);
// - runit's `sv status` on the same 1000 directories (one sv process).
// The VMDIR holds 1000 VM directories with `supervise/status` records and
// `supervise/ok` FIFOs: 900 with no reader (a stale status file, runsv gone:
// unsupervised) and 100 held open by this process (supervised, as by runsv).
// Run: deno run -A bench/list.ts

import { closeSync, constants, openSync } from "node:fs";
import { join } from "node:path";
import { statesOf } from "../lib/vm/state.ts";
import { inspectVms } from "../lib/vm/inspect.ts";
import { encodeStatus } from "../tests/support/runit_status.ts";

const VMS = 1000;
const SUPERVISED = 100;
const ROUNDS = 7;
const MAIN = new URL("../main.ts", import.meta.url).pathname;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function ms(x: number): string {
  return `${x.toFixed(1)} ms`;
}

/** Runs a command to completion `ROUNDS` times (after one warm-up); median wall time in ms. */
async function timeCommand(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  check: (out: string, code: number) => void,
): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i <= ROUNDS; i++) {
    const t0 = performance.now();
    const out = await new Deno.Command(cmd, { args, env, stdin: "null", stderr: "null" }).output();
    const t = performance.now() - t0;
    check(new TextDecoder().decode(out.stdout), out.code);
    if (i > 0) times.push(t);
  }
  return median(times);
}

const root = Deno.makeTempDirSync({ prefix: "vm-bench-list-" });
const held: number[] = [];
try {
  const vmdir = join(root, "vms");
  const names: string[] = [];
  const fifos: string[] = [];
  const now = Date.now() / 1000;
  for (let i = 0; i < VMS; i++) {
    const name = `vm${String(i).padStart(4, "0")}`;
    names.push(name);
    const dir = join(vmdir, name);
    Deno.mkdirSync(join(dir, "supervise"), { recursive: true });
    Deno.writeTextFileSync(join(dir, "run"), "#!/bin/sh\nexec true\n", { mode: 0o755 });
    Deno.writeTextFileSync(join(dir, "wait"), "10\n");
    if (i % 3 === 0) Deno.writeTextFileSync(join(dir, "down"), "");
    const running = i % 2 === 0;
    Deno.writeFileSync(
      join(dir, "supervise", "status"),
      encodeStatus({
        since: now - 1000 * i,
        pid: running ? 10000 + i : 0,
        paused: false,
        want: running ? "up" : "down",
        gotTerm: false,
        state: running ? "run" : "down",
      }),
    );
    fifos.push(join(dir, "supervise", "ok"));
  }
  const mk = await new Deno.Command("mkfifo", { args: fifos }).output();
  if (!mk.success) throw new Error("mkfifo failed");
  // A reader on the first SUPERVISED FIFOs, as runsv holds its own.
  for (const f of fifos.slice(0, SUPERVISED)) {
    held.push(openSync(f, constants.O_RDONLY | constants.O_NONBLOCK));
  }

  // Sanity: the states are read as meant.
  const states = statesOf(inspectVms(vmdir), vmdir);
  const supervised = states.filter((s) => s.state !== "unsupervised").length;
  if (states.length !== VMS || supervised !== SUPERVISED) {
    throw new Error(
      `expected ${VMS} VMs, ${SUPERVISED} supervised; got ${states.length}, ${supervised}`,
    );
  }

  const env = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
    VMDIR: vmdir,
    VMCONF: join(root, "conf"),
    NO_COLOR: "1",
    ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR") ?? "" } : {}),
  };
  Deno.writeTextFileSync(env.VMCONF, "");
  const empty = join(root, "empty.ts");
  Deno.writeTextFileSync(empty, "");

  const deno = Deno.execPath();
  const bare = await timeCommand(deno, ["run", "--allow-all", "--quiet", empty], env, () => {});
  const list = await timeCommand(
    deno,
    ["run", "--allow-all", "--quiet", MAIN, "list"],
    env,
    (out, code) => {
      if (code !== 0 || out.trim().split("\n").length !== VMS + 1) {
        throw new Error(`vm list failed (exit ${code})`);
      }
    },
  );
  const emptyList = await timeCommand(
    deno,
    ["run", "--allow-all", "--quiet", MAIN, "list"],
    { ...env, VMDIR: join(root, "none") },
    (out, code) => {
      if (code !== 0 || out.trim().split("\n").length !== 1) throw new Error("vm list failed");
    },
  );
  const json = await timeCommand(
    deno,
    ["run", "--allow-all", "--quiet", MAIN, "list", "--json"],
    env,
    (out) => {
      if ((JSON.parse(out) as unknown[]).length !== VMS) throw new Error("vm list --json failed");
    },
  );
  const sv = await timeCommand("sv", ["status", ...names], { ...env, SVDIR: vmdir }, (out) => {
    if (out.trim().split("\n").length < SUPERVISED) throw new Error("sv status printed too little");
  });
  const inProc: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    statesOf(inspectVms(vmdir), vmdir);
    inProc.push(performance.now() - t0);
  }
  const work = list - bare;

  console.log(`vm list, ${VMS} VMs (${SUPERVISED} supervised), median of ${ROUNDS} runs`);
  console.log(`  bare deno run (empty script)   ${ms(bare)}`);
  console.log(`  vm list                        ${ms(list)}`);
  console.log(`  vm list --json                 ${ms(json)}`);
  console.log(`  vm list, empty VMDIR           ${ms(emptyList)} (loading vm's code)`);
  console.log(`  sv status (one sv process)     ${ms(sv)}`);
  console.log(`  statesOf() in-process         ${ms(median(inProc))}`);
  const ratio = list / bare;
  console.log(
    `  vm list / bare deno:           ${ratio.toFixed(2)}x (target <= 2x: ${
      ratio <= 2 ? "met" : "NOT met"
    })`,
  );
  console.log(`  vm list / sv status:           ${(list / sv).toFixed(2)}x`);
  console.log(
    `  vm list work on top of Deno's start: ${ms(work)} (target < 100 ms: ${
      work < 100 ? "met" : "NOT met"
    })`,
  );
} finally {
  for (const fd of held) closeSync(fd);
  Deno.removeSync(root, { recursive: true });
}
