// Benchmark of `vm list` (state read from the service directories, no
// subprocess per VM), with baselines measured in the same run:
// - a bare `deno run` of an empty script (Deno's start): targets `vm list` on
//   50 VMs at most 2x that, on 1000 VMs at most 6x (module loading and the
//   work together);
// - runit's `sv status` on the same directories (one sv process).
// Each VMDIR holds VM directories with `supervise/status` records and
// `supervise/ok` FIFOs: 90% with no reader (a stale status file, runsv gone:
// unsupervised) and 10% held open by this process (supervised, as by runsv).
// The commands take turns, one run of each per round, so that a change of the
// machine's load meets all of them alike; medians of ROUNDS rounds after one
// untimed round. Run: deno run -A bench/list.ts [rounds]

import { closeSync, constants, openSync } from "node:fs";
import { join } from "node:path";
import { statesOf } from "../lib/vm/state.ts";
import { inspectVms } from "../lib/vm/inspect.ts";
import { encodeStatus } from "../tests/support/runit_status.ts";

/** VMs per VMDIR, and the largest `vm list` / bare deno ratio allowed for it. */
const SIZES: [number, number][] = [[50, 2], [1000, 6]];
const ROUNDS = Number(Deno.args[0] ?? 11);
const MAIN = new URL("../main.ts", import.meta.url).pathname;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function ms(x: number): string {
  return `${x.toFixed(1)} ms`;
}

/** A command to time: its argv, environment, and a check of its output and exit code. */
interface Case {
  cmd: string;
  args: string[];
  env: Record<string, string>;
  check: (out: string, code: number) => void;
}

/** Runs `c` to completion, checks it; its wall time in ms. */
async function timeOnce(c: Case): Promise<number> {
  const t0 = performance.now();
  const out = await new Deno.Command(c.cmd, {
    args: c.args,
    env: c.env,
    stdin: "null",
    stderr: "null",
  })
    .output();
  const t = performance.now() - t0;
  c.check(new TextDecoder().decode(out.stdout), out.code);
  return t;
}

/** Runs every case once per round, in turn, ROUNDS rounds after an untimed one; median ms of each. */
async function timeRounds(cases: Record<string, Case>): Promise<Record<string, number>> {
  const times: Record<string, number[]> = {};
  for (let i = 0; i <= ROUNDS; i++) {
    for (const [name, c] of Object.entries(cases)) {
      const t = await timeOnce(c);
      if (i > 0) (times[name] ??= []).push(t);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
}

/**
 * Makes `vmdir` with `vms` VM directories, a tenth of them supervised: their `supervise/ok`
 * opened for reading, the fds pushed to `held`. Returns the VM names.
 */
async function makeVmdir(vmdir: string, vms: number, held: number[]): Promise<string[]> {
  const names: string[] = [];
  const fifos: string[] = [];
  const now = Date.now() / 1000;
  for (let i = 0; i < vms; i++) {
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
  // A reader on the first tenth of the FIFOs, as runsv holds its own.
  for (const f of fifos.slice(0, vms / 10)) {
    held.push(openSync(f, constants.O_RDONLY | constants.O_NONBLOCK));
  }
  // Sanity: the states are read as meant.
  const states = statesOf(inspectVms(vmdir), vmdir);
  const supervised = states.filter((s) => s.state !== "unsupervised").length;
  if (states.length !== vms || supervised !== vms / 10) {
    throw new Error(
      `expected ${vms} VMs, ${vms / 10} supervised; got ${states.length}, ${supervised}`,
    );
  }
  return names;
}

const root = Deno.makeTempDirSync({ prefix: "vm-bench-list-" });
const held: number[] = [];
try {
  const env = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
    VMDIR: join(root, "none"),
    VMCONF: join(root, "conf"),
    NO_COLOR: "1",
    ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR") ?? "" } : {}),
  };
  Deno.writeTextFileSync(env.VMCONF, "");
  const empty = join(root, "empty.ts");
  Deno.writeTextFileSync(empty, "");
  const deno = Deno.execPath();
  const lines = (n: number) => (out: string, code: number) => {
    if (code !== 0 || out.trim().split("\n").length !== n) {
      throw new Error(`vm list failed (exit ${code})`);
    }
  };
  const vmList = (vmdir: string, args: string[], check: Case["check"]): Case => ({
    cmd: deno,
    args: ["run", "--allow-all", "--quiet", MAIN, "list", ...args],
    env: { ...env, VMDIR: vmdir },
    check,
  });
  const cases: Record<string, Case> = {
    bare: { cmd: deno, args: ["run", "--allow-all", "--quiet", empty], env, check: () => {} },
    none: vmList(join(root, "none"), [], lines(1)),
  };
  for (const [vms] of SIZES) {
    const vmdir = join(root, `vms${vms}`);
    const names = await makeVmdir(vmdir, vms, held);
    cases[`list${vms}`] = vmList(vmdir, [], lines(vms + 1));
    cases[`json${vms}`] = vmList(vmdir, ["--json"], (out) => {
      if ((JSON.parse(out) as unknown[]).length !== vms) throw new Error("vm list --json failed");
    });
    cases[`sv${vms}`] = {
      cmd: "sv",
      args: ["status", ...names],
      env: { ...env, SVDIR: vmdir },
      check: (out) => {
        if (out.trim().split("\n").length < vms / 10) {
          throw new Error("sv status printed too little");
        }
      },
    };
  }
  const t = await timeRounds(cases);
  const bare = t.bare!;
  console.log(`vm list, median of ${ROUNDS} rounds`);
  console.log(`  bare deno run (empty script)   ${ms(bare)}`);
  console.log(`  vm list, no VMDIR              ${ms(t.none!)} (loading vm's code)`);
  let failed = false;
  for (const [vms, target] of SIZES) {
    const inProc: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = performance.now();
      const dir = join(root, `vms${vms}`);
      statesOf(inspectVms(dir), dir);
      inProc.push(performance.now() - t0);
    }
    const list = t[`list${vms}`]!;
    const ratio = list / bare;
    const met = ratio <= target;
    failed ||= !met;
    console.log(`${vms} VMs (${vms / 10} supervised):`);
    console.log(`  vm list                        ${ms(list)}`);
    console.log(`  vm list --json                 ${ms(t[`json${vms}`]!)}`);
    console.log(`  sv status (one sv process)     ${ms(t[`sv${vms}`]!)}`);
    console.log(`  statesOf() in-process          ${ms(median(inProc))}`);
    console.log(
      `  vm list / bare deno:           ${ratio.toFixed(2)}x (target <= ${target}x: ${
        met ? "met" : "NOT met"
      })`,
    );
    console.log(`  vm list / sv status:           ${(list / t[`sv${vms}`]!).toFixed(2)}x`);
  }
  if (failed) Deno.exitCode = 1;
} finally {
  for (const fd of held) closeSync(fd);
  Deno.removeSync(root, { recursive: true });
}
