/**
 * Unit tests of lib/state.ts (deriving a VM's state from runsv's status
 * record, labels, durations, the `vm list` table and `vm status` blocks, and
 * reading real service directories with and without a live reader on
 * `supervise/ok`) and of lib/autostart.ts.
 */

import assert from "node:assert/strict";
import { closeSync, constants, openSync } from "node:fs";
import { join } from "node:path";
import { type Status } from "../../lib/runit/status.ts";
import {
  deriveState,
  isRunning,
  type StateInput,
  statesOf,
  type VmState,
  vmState,
} from "../../lib/vm/state.ts";
import { formatStatus, formatTable, stateLabel, TABLE_HEADER } from "../../cli/core/state_table.ts";
import { humanDuration } from "../../cli/core/format.ts";
import { inspectDir, inspectVms } from "../../lib/vm/inspect.ts";
import { JSON_STATE_FIELDS } from "../support/harness.ts";
import { autostartMessage } from "../../cli/commands/autostart.ts";
import { setAutostart } from "../../lib/vm/dir.ts";
import { withTempDir } from "../support/temp_dir.ts";
import { runningState as vm } from "../support/state_fixture.ts";
import { encodeStatus } from "../support/runit_status.ts";

const NOW = 1_700_000_000;

function status(over: Partial<Status> = {}): Status {
  return {
    since: NOW - 100.5,
    pid: 4242,
    paused: false,
    want: "up",
    gotTerm: false,
    state: "run",
    ...over,
  };
}

// deno-lint-ignore no-control-regex
const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");

Deno.test("humanDuration: seconds, minutes, hours, days as people write them", () => {
  assert.equal(humanDuration(0), "0s");
  assert.equal(humanDuration(-5), "0s");
  assert.equal(humanDuration(45), "45s");
  assert.equal(humanDuration(59.9), "59s");
  assert.equal(humanDuration(60), "1m");
  assert.equal(humanDuration(12 * 60 + 59), "12m");
  assert.equal(humanDuration(3600), "1h");
  assert.equal(humanDuration(3 * 3600 + 5 * 60 + 7), "3h5m");
  assert.equal(humanDuration(86400), "1d");
  assert.equal(humanDuration(3 * 86400 + 4 * 3600 + 59 * 60), "3d4h");
  assert.equal(humanDuration(400 * 86400), "400d");
});

/** What deriveState gets of VM "a" (supervised, autostart, wait 10), with `over`. */
function input(over: Partial<StateInput>): StateInput {
  return { name: "a", supervised: true, autostart: true, wait: 10, ...over };
}

Deno.test("deriveState: a running VM has QEMU's pid and the uptime since runsv started it", () => {
  const s = deriveState(input({ status: status() }), NOW);
  assert.deepEqual(s, vm({ name: "a", pid: 4242, uptime_s: 100 }));
  assert.ok(isRunning(s));
});

Deno.test("deriveState: the JSON object has exactly the documented fields, in order", () => {
  const s = deriveState(input({ status: status(), autostart: false, wait: 7 }), NOW);
  assert.deepEqual(Object.keys(s), JSON_STATE_FIELDS);
  const u = deriveState(
    input({ status: status(), supervised: false, autostart: false, wait: 7 }),
    NOW,
  );
  assert.deepEqual(Object.keys(u), Object.keys(s));
  assert.equal(
    JSON.stringify(u),
    '{"name":"a","state":"unsupervised","pid":null,"uptime_s":null,"autostart":false,' +
      '"wait_s":7,"want":null,"paused":null,"backoff_s":null,"linked_clones":[],"problem":null}',
  );
});

Deno.test("deriveState: a status file without runsv is stale: unsupervised, nothing known", () => {
  const s = deriveState(
    input({ status: status({ state: "run", pid: 99 }), supervised: false }),
    NOW,
  );
  assert.equal(s.state, "unsupervised");
  assert.equal(s.pid, null);
  assert.equal(s.uptime_s, null);
  assert.equal(s.want, null);
  assert.equal(s.paused, null);
  assert.ok(!isRunning(s));
  // A runsv whose status record is not there (yet) is no better.
  assert.equal(
    deriveState(input({}), NOW).state,
    "unsupervised",
  );
});

Deno.test("deriveState: down and finish have no pid and no uptime (in finish the pid is finish's)", () => {
  const downStatus = status({ state: "down", pid: 0, want: "down" });
  const down = deriveState(input({ status: downStatus, autostart: false }), NOW);
  assert.deepEqual(
    down,
    vm({ name: "a", state: "down", pid: null, uptime_s: null, autostart: false, want: "down" }),
  );
  const finStatus = status({ state: "finish", pid: 777, want: "down" });
  const fin = deriveState(input({ status: finStatus }), NOW);
  assert.equal(fin.state, "finish");
  assert.equal(fin.pid, null);
  assert.equal(fin.uptime_s, null);
});

Deno.test("deriveState: backoff only while wanted up, not running, and the backoff lasts", () => {
  const fin = status({ state: "finish", pid: 777 });
  const b = deriveState(input({ status: fin, backoffUntil: NOW + 4.2 }), NOW);
  assert.equal(b.state, "backoff");
  assert.equal(b.backoff_s, 5);
  assert.equal(
    deriveState(input({ status: fin, backoffUntil: NOW - 1 }), NOW).state,
    "finish",
  );
  assert.equal(
    deriveState(input({ status: { ...fin, want: "down" }, backoffUntil: NOW + 4 }), NOW).state,
    "finish",
  );
  assert.equal(
    deriveState(input({ status: status(), backoffUntil: NOW + 4 }), NOW).state,
    "run",
  );
  assert.equal(
    deriveState(input({ status: fin, backoffUntil: NOW + 4 }), NOW).backoff_s,
    4,
  );
});

Deno.test("deriveState: uptime is never negative (clock steps)", () => {
  assert.equal(
    deriveState(input({ status: status({ since: NOW + 3 }) }), NOW).uptime_s,
    0,
  );
});

Deno.test("stateLabel: the state, plus what runsv wants when that differs", () => {
  assert.equal(stateLabel(vm()), "run");
  assert.equal(stateLabel(vm({ state: "down", want: "down" })), "down");
  assert.equal(stateLabel(vm({ state: "down", want: "up" })), "down, want up");
  assert.equal(stateLabel(vm({ state: "finish", want: "up" })), "finish, want up");
  assert.equal(stateLabel(vm({ state: "finish", want: "down" })), "finish");
  assert.equal(stateLabel(vm({ want: "down" })), "run, want down");
  assert.equal(stateLabel(vm({ paused: true })), "run, paused");
  assert.equal(stateLabel(vm({ state: "backoff", backoff_s: 8 })), "backoff 8s");
  assert.equal(
    stateLabel(vm({ state: "unsupervised", want: null, paused: null })),
    "unsupervised",
  );
});

Deno.test("formatTable: a header and aligned columns; '-' where unknown", () => {
  const table = formatTable([
    vm({ name: "alpha", pid: 12345, uptime_s: 3 * 86400 + 4 * 3600 }),
    vm({
      name: "b",
      state: "down",
      pid: null,
      uptime_s: null,
      autostart: false,
      want: "up",
      wait_s: 120,
    }),
    vm({ name: "ghost", state: "unsupervised", pid: null, uptime_s: null, want: null }),
  ]);
  assert.equal(
    table,
    [
      "NAME   STATE          PID    UPTIME  AUTOSTART  WAIT",
      "alpha  run            12345  3d4h    on         10s",
      "b      down, want up  -      -       off        120s",
      "ghost  unsupervised   -      -       on         10s",
    ].join("\n"),
  );
});

Deno.test("formatTable: an empty VMDIR is just the header", () => {
  assert.equal(formatTable([]), TABLE_HEADER.join("  "));
});

Deno.test("formatTable: colour only on request, only on STATE, same text and alignment", () => {
  const states = [
    vm({ name: "a" }),
    vm({ name: "bb", state: "unsupervised", pid: null, uptime_s: null, want: null }),
    vm({ name: "c", state: "down", pid: null, uptime_s: null, want: "down" }),
  ];
  const plain = formatTable(states);
  assert.ok(!plain.includes("\x1b"));
  const colored = formatTable(states, true);
  assert.notEqual(colored, plain);
  assert.equal(stripAnsi(colored), plain);
  assert.ok(
    (colored.split("\n")[1] ?? "").startsWith(`a     \x1b[32mrun${" ".repeat(9)}\x1b[0m  4242`),
    JSON.stringify(colored),
  );
  assert.ok((colored.split("\n")[2] ?? "").includes("\x1b[31munsupervised"));
  // down and wanted down: nothing to see, no colour.
  assert.ok(!(colored.split("\n")[3] ?? "").includes("\x1b"));
});

Deno.test("formatStatus: one block per VM with the same fields", () => {
  assert.equal(
    formatStatus(vm({ name: "web", uptime_s: 750 })),
    [
      "web",
      "  state:     run",
      "  pid:       4242",
      "  uptime:    12m (750 s)",
      "  autostart: on (starts with vmd)",
      "  wait:      10 s",
      "  want:      up",
    ].join("\n"),
  );
  const u = formatStatus(
    vm({ state: "unsupervised", pid: null, uptime_s: null, autostart: false, want: null }),
  );
  assert.equal(
    u,
    [
      "vm1",
      "  state:     unsupervised",
      "  pid:       -",
      "  uptime:    -",
      "  autostart: off",
      "  wait:      10 s",
    ].join("\n"),
  );
  assert.match(formatStatus(vm({ uptime_s: 5 })), /\n {2}uptime: {4}5s\n/);
  assert.equal(stripAnsi(formatStatus(vm(), true)), formatStatus(vm()));
});

/** Makes a VM-like service directory with a status record and an `ok` FIFO. */
async function serviceDir(
  vmdir: string,
  name: string,
  st: Status,
  files: Record<string, string> = {},
): Promise<string> {
  const dir = join(vmdir, name);
  Deno.mkdirSync(join(dir, "supervise"), { recursive: true });
  Deno.writeTextFileSync(join(dir, "run"), "#!/bin/sh\n", { mode: 0o755 });
  for (const [f, text] of Object.entries(files)) Deno.writeTextFileSync(join(dir, f), text);
  Deno.writeFileSync(join(dir, "supervise", "status"), encodeStatus(st));
  const mk = await new Deno.Command("mkfifo", { args: [join(dir, "supervise", "ok")] }).output();
  assert.ok(mk.success);
  return dir;
}

/** The states of every VM of `vmdir`, as `vm list` reads them. */
function listStates(vmdir: string, now?: number): VmState[] {
  return statesOf(inspectVms(vmdir), vmdir, now);
}

Deno.test("vmState/listStates: read from the service directories; a FIFO without reader is unsupervised", async () => {
  await withTempDir(async (vmdir) => {
    const fds: number[] = [];
    try {
      const now = Date.now() / 1000;
      const running = await serviceDir(vmdir, "b-run", status({ since: now - 65, pid: 31337 }), {
        wait: "30\n",
      });
      await serviceDir(vmdir, "a-down", status({ state: "down", pid: 0, want: "down" }), {
        down: "",
      });
      await serviceDir(vmdir, "c-stale", status({ since: now - 5, pid: 31338 }));
      await serviceDir(vmdir, "d-backoff", status({ state: "finish", pid: 99 }), {
        backoff: `4 ${(now + 3.5).toFixed(3)} 3\n`,
      });
      // Not VMs: a dot-name, an invalid name, a directory without run, a file.
      Deno.mkdirSync(join(vmdir, ".default"));
      Deno.writeTextFileSync(join(vmdir, ".default", "run"), "");
      Deno.mkdirSync(join(vmdir, "bad name"));
      Deno.writeTextFileSync(join(vmdir, "bad name", "run"), "");
      Deno.mkdirSync(join(vmdir, "norun"));
      Deno.writeTextFileSync(join(vmdir, "file"), "");
      // runsv holds its ok FIFO open for reading: do so for all but c-stale.
      for (const n of ["a-down", "b-run", "d-backoff"]) {
        fds.push(
          openSync(join(vmdir, n, "supervise", "ok"), constants.O_RDONLY | constants.O_NONBLOCK),
        );
      }

      const states = listStates(vmdir, now);
      assert.deepEqual(states.map((s) => s.name), ["a-down", "b-run", "c-stale", "d-backoff"]);
      const [down, run, stale, backoff] = states;
      assert.deepEqual(down, {
        name: "a-down",
        state: "down",
        pid: null,
        uptime_s: null,
        autostart: false,
        want: "down",
        wait_s: 10,
        paused: false,
        backoff_s: null,
        linked_clones: [],
        problem: null,
      });
      assert.equal(run?.state, "run");
      assert.equal(run?.pid, 31337);
      assert.equal(run?.uptime_s, 65);
      assert.equal(run?.wait_s, 30);
      assert.equal(run?.autostart, true);
      assert.equal(stale?.state, "unsupervised");
      assert.equal(stale?.pid, null);
      assert.equal(backoff?.state, "backoff");
      assert.equal(backoff?.backoff_s, 4);
      assert.deepEqual(vmState(inspectDir(running), now), run);

      // The reader goes away (runsv killed): the status file stays, the VM is unsupervised.
      closeSync(fds.splice(1, 1)[0] ?? -1);
      assert.equal(vmState(inspectDir(running), now).state, "unsupervised");
      assert.deepEqual(listStates(join(vmdir, "missing")), []);
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  });
});

Deno.test("setAutostart: off creates down, on removes it; both idempotent", async () => {
  await withTempDir((dir) => {
    const down = join(dir, "down");
    setAutostart(dir, false);
    assert.ok(Deno.statSync(down).isFile);
    setAutostart(dir, false);
    assert.ok(Deno.statSync(down).isFile);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["down"]);
    setAutostart(dir, true);
    assert.throws(() => Deno.statSync(down), Deno.errors.NotFound);
    setAutostart(dir, true);
    assert.throws(() => Deno.statSync(down), Deno.errors.NotFound);
    assert.equal(autostartMessage("x", true), "x: autostart on (starts with vmd)");
    assert.equal(
      autostartMessage("x", false),
      'x: autostart off (vmd leaves it down; "vm start x" starts it)',
    );
  });
});
