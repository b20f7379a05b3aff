/**
 * Unit tests of the pure parts of lib/runit.ts: decoding runit's 20-byte
 * `supervise/status` record (from hand-built bytes and from a real runsv),
 * /proc cmdlines, the directory a runsvdir supervises, and SVWAIT.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { parseStatus, readStatus, type Status } from "../../lib/runit/status.ts";
import { runsvdirTarget } from "../../lib/qemu/processes.ts";
import { splitCmdline } from "../../lib/os/proc.ts";
import { svWait } from "../../lib/runit/control.ts";
import { isFile } from "../support/files.ts";
import { waitFor } from "../support/harness.ts";
import { withTempDir } from "../support/temp_dir.ts";
import { skippable } from "../support/skip.ts";
import { encodeStatus } from "../support/runit_status.ts";

/** TAI64 label of Unix time 0, as runit writes it: 2^62 + 10. */
const TAI64_UNIX = 2n ** 62n + 10n;

/** Builds a status record byte by byte, as runsv's update_status() does. */
function record(opts: {
  unix: bigint;
  nano: number;
  pid: number;
  paused: number;
  want: number;
  term: number;
  state: number;
}): Uint8Array {
  const b = new Uint8Array(20);
  let sec = opts.unix + TAI64_UNIX;
  for (let i = 7; i >= 0; i--) {
    b[i] = Number(sec & 0xffn);
    sec >>= 8n;
  }
  b[8] = (opts.nano >>> 24) & 0xff;
  b[9] = (opts.nano >>> 16) & 0xff;
  b[10] = (opts.nano >>> 8) & 0xff;
  b[11] = opts.nano & 0xff;
  b[12] = opts.pid & 0xff;
  b[13] = (opts.pid >>> 8) & 0xff;
  b[14] = (opts.pid >>> 16) & 0xff;
  b[15] = (opts.pid >>> 24) & 0xff;
  b[16] = opts.paused;
  b[17] = opts.want;
  b[18] = opts.term;
  b[19] = opts.state;
  return b;
}

/** Bytes from hex digits (blanks ignored). */
function hex(digits: string): Uint8Array {
  const h = digits.replaceAll(" ", "");
  assert.equal(h.length, 40);
  return Uint8Array.from(
    { length: h.length / 2 },
    (_, i) => parseInt(h.slice(2 * i, 2 * i + 2), 16),
  );
}

const U = 0x75; // 'u'
const D = 0x64; // 'd'

// ---------------------------------------------------------------------------
// parseStatus with hand-built bytes

Deno.test("parseStatus: literal bytes of a running service", () => {
  // 2^62 + 10 + 1700000000 = 0x400000006553F10A; 123456789 ns = 0x075BCD15;
  // pid 0x01020304 little-endian.
  const b = hex("400000006553f10a 075bcd15 04030201 00 75 00 01");
  assert.deepEqual(parseStatus(b), {
    since: 1700000000 + 123456789 / 1e9,
    pid: 0x01020304,
    paused: false,
    want: "up",
    gotTerm: false,
    state: "run",
  });
});

Deno.test("parseStatus: literal bytes of a service that is down", () => {
  // Unix time 0 exactly, pid 0, want 'd', state 0.
  const b = hex("400000000000000a 00000000 00000000 00 64 00 00");
  assert.deepEqual(parseStatus(b), {
    since: 0,
    pid: 0,
    paused: false,
    want: "down",
    gotTerm: false,
    state: "down",
  });
});

Deno.test("parseStatus: seconds are big-endian TAI64, minus 2^62 + 10", () => {
  const s = parseStatus(
    record({ unix: 1234567890n, nano: 0, pid: 1, paused: 0, want: U, term: 0, state: 1 }),
  );
  assert.equal(s?.since, 1234567890);
  // One more in the last byte is one second later.
  const b = record({ unix: 1234567890n, nano: 0, pid: 1, paused: 0, want: U, term: 0, state: 1 });
  b[7] = (b[7] ?? 0) + 1;
  assert.equal(parseStatus(b)?.since, 1234567891);
});

Deno.test("parseStatus: nanoseconds are big-endian bytes 8-11", () => {
  const b = record({ unix: 1000n, nano: 0, pid: 1, paused: 0, want: U, term: 0, state: 1 });
  b[8] = 0x1d; // 0x1DCD6500 = 500000000
  b[9] = 0xcd;
  b[10] = 0x65;
  b[11] = 0x00;
  assert.equal(parseStatus(b)?.since, 1000.5);
});

Deno.test("parseStatus: pid is little-endian bytes 12-15 (the full u32 range)", () => {
  const base = { unix: 1n, nano: 0, paused: 0, want: U, term: 0, state: 1 };
  assert.equal(parseStatus(record({ ...base, pid: 4242 }))?.pid, 4242);
  const b = record({ ...base, pid: 0 });
  b[12] = 0x01;
  assert.equal(parseStatus(b)?.pid, 1);
  b[12] = 0;
  b[15] = 0x01;
  assert.equal(parseStatus(b)?.pid, 0x01000000);
  b.fill(0xff, 12, 16);
  assert.equal(parseStatus(b)?.pid, 0xffffffff);
});

Deno.test("parseStatus: paused, want, got-TERM and state bytes 16-19", () => {
  const base = { unix: 5n, nano: 0, pid: 7, paused: 0, want: U, term: 0, state: 1 };
  assert.equal(parseStatus(record(base))?.paused, false);
  assert.equal(parseStatus(record({ ...base, paused: 1 }))?.paused, true);
  assert.equal(parseStatus(record(base))?.want, "up");
  assert.equal(parseStatus(record({ ...base, want: D }))?.want, "down");
  assert.equal(parseStatus(record(base))?.gotTerm, false);
  assert.equal(parseStatus(record({ ...base, term: 1 }))?.gotTerm, true);
  assert.equal(parseStatus(record({ ...base, state: 0 }))?.state, "down");
  assert.equal(parseStatus(record({ ...base, state: 1 }))?.state, "run");
  assert.equal(parseStatus(record({ ...base, state: 2 }))?.state, "finish");
});

Deno.test("parseStatus: a stopping paused service (all flags at once)", () => {
  assert.deepEqual(
    parseStatus(
      record({
        unix: 1700000000n,
        nano: 250000000,
        pid: 99,
        paused: 1,
        want: D,
        term: 1,
        state: 2,
      }),
    ),
    { since: 1700000000.25, pid: 99, paused: true, want: "down", gotTerm: true, state: "finish" },
  );
});

Deno.test("parseStatus: fewer than 20 bytes is not a record", () => {
  const full = record({ unix: 1n, nano: 0, pid: 1, paused: 0, want: U, term: 0, state: 1 });
  assert.equal(parseStatus(new Uint8Array(0)), undefined);
  assert.equal(parseStatus(full.subarray(0, 19)), undefined);
  assert.notEqual(parseStatus(full), undefined);
});

Deno.test("parseStatus: an unknown state byte is not a record", () => {
  for (const state of [3, 0x72, 0xff]) {
    assert.equal(
      parseStatus(record({ unix: 1n, nano: 0, pid: 1, paused: 0, want: U, term: 0, state })),
      undefined,
    );
  }
});

Deno.test("parseStatus: reads a record at an offset inside a larger buffer", () => {
  const rec = record({
    unix: 1700000001n,
    nano: 0,
    pid: 0x0a0b0c0d,
    paused: 0,
    want: U,
    term: 0,
    state: 1,
  });
  const big = new Uint8Array(64).fill(0xee);
  big.set(rec, 7);
  assert.deepEqual(parseStatus(big.subarray(7, 27)), parseStatus(rec));
  assert.equal(parseStatus(big.subarray(7, 27))?.pid, 0x0a0b0c0d);
});

// ---------------------------------------------------------------------------
// encodeStatus

Deno.test("encodeStatus: gives the exact bytes runsv writes", () => {
  assert.deepEqual(
    encodeStatus({
      since: 1700000000.5,
      pid: 0x01020304,
      paused: true,
      want: "down",
      gotTerm: true,
      state: "finish",
    }),
    record({
      unix: 1700000000n,
      nano: 500000000,
      pid: 0x01020304,
      paused: 1,
      want: D,
      term: 1,
      state: 2,
    }),
  );
});

Deno.test("encodeStatus: parseStatus gives back the record", () => {
  const cases: Status[] = [
    { since: 0, pid: 0, paused: false, want: "down", gotTerm: false, state: "down" },
    { since: 1700000000.25, pid: 12345, paused: false, want: "up", gotTerm: false, state: "run" },
    {
      since: 1999999999,
      pid: 0xffffffff,
      paused: true,
      want: "up",
      gotTerm: true,
      state: "finish",
    },
  ];
  for (const s of cases) assert.deepEqual(parseStatus(encodeStatus(s)), s);
});

Deno.test("encodeStatus: a fraction that rounds to a whole second carries into the seconds", () => {
  const b = encodeStatus({
    since: 99.9999999999,
    pid: 1,
    paused: false,
    want: "up",
    gotTerm: false,
    state: "run",
  });
  const v = new DataView(b.buffer);
  assert.equal(v.getBigUint64(0, false) - TAI64_UNIX, 100n);
  assert.equal(v.getUint32(8, false), 0);
  assert.equal(parseStatus(b)?.since, 100);
});

// ---------------------------------------------------------------------------
// splitCmdline, runsvdirTarget, svWait

Deno.test("splitCmdline: NUL-separated arguments, trailing NUL dropped, empty ones kept", () => {
  assert.deepEqual(splitCmdline("runsvdir\0-P\0/srv/vms\0"), ["runsvdir", "-P", "/srv/vms"]);
  assert.deepEqual(splitCmdline("a\0\0b\0"), ["a", "", "b"]);
  assert.deepEqual(splitCmdline("a b c"), ["a b c"]);
  assert.deepEqual(splitCmdline(""), []);
});

Deno.test("runsvdirTarget: the directory of runsvdir [-P] dir [log]", () => {
  assert.equal(runsvdirTarget(["runsvdir", "/srv/vms"]), "/srv/vms");
  assert.equal(runsvdirTarget(["runsvdir", "-P", "/srv/vms"]), "/srv/vms");
  assert.equal(runsvdirTarget(["/usr/bin/runsvdir", "-P", "vms", "log: ......."]), "vms");
  assert.equal(runsvdirTarget(["/usr/bin/runsvdir", "/srv/vms", "................"]), "/srv/vms");
});

Deno.test("runsvdirTarget: other processes and incomplete command lines give undefined", () => {
  assert.equal(runsvdirTarget([]), undefined);
  assert.equal(runsvdirTarget(["runsvdir"]), undefined);
  assert.equal(runsvdirTarget(["runsvdir", "-P"]), undefined);
  assert.equal(runsvdirTarget(["runsv", "/srv/vms/a"]), undefined);
  assert.equal(runsvdirTarget(["/usr/bin/runsvdir2", "/srv/vms"]), undefined);
  assert.equal(runsvdirTarget(["sh", "-c", "runsvdir /srv/vms"]), undefined);
  assert.equal(runsvdirTarget(["vim", "runsvdir"]), undefined);
});

Deno.test("svWait: the largest wait plus 5 seconds", () => {
  assert.equal(svWait([]), 5);
  assert.equal(svWait([0]), 5);
  assert.equal(svWait([10]), 15);
  assert.equal(svWait([10, 30, 0, 7]), 35);
});

// ---------------------------------------------------------------------------
// A real runsv

const RUNSV = "/usr/bin/runsv";
const haveRunsv = isFile(RUNSV);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readRecord(svc: string): Status | undefined {
  try {
    return parseStatus(Deno.readFileSync(join(svc, "supervise/status")));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  ...skippable(
    "parseStatus: decodes the supervise/status of a real runsv (run, then down)",
    !haveRunsv ? "no runsv here" : undefined,
  ),
  fn: async () => {
    await withTempDir(async (tmp) => {
      const svc = join(tmp, "svc");
      Deno.mkdirSync(svc);
      Deno.writeTextFileSync(join(svc, "run"), "#!/bin/sh\nexec sleep 30\n");
      Deno.chmodSync(join(svc, "run"), 0o755);
      const runsv = new Deno.Command(RUNSV, {
        args: [svc],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      let servicePid = 0;
      try {
        // Wait for runsv to start the service and record it.
        let up: Status | undefined;
        for (let i = 0; i < 100; i++) {
          up = readRecord(svc);
          if (up?.state === "run" && up.pid > 0) break;
          await sleep(50);
        }
        assert.ok(up !== undefined, "supervise/status was written");
        servicePid = up.pid;
        assert.equal(up.state, "run");
        assert.equal(up.want, "up");
        assert.equal(up.paused, false);
        assert.equal(up.gotTerm, false);
        const pidFile = Number(Deno.readTextFileSync(join(svc, "supervise/pid")).trim());
        assert.equal(up.pid, pidFile);
        assert.ok(Math.abs(up.since - Date.now() / 1000) < 2, `since ${up.since} is now`);
        // The pid is the service's process: `run` exec'ed sleep (once sh has got that far).
        const cmdline = () => splitCmdline(Deno.readTextFileSync(`/proc/${up.pid}/cmdline`));
        await waitFor(() => cmdline()[0] === "sleep", 5000);
        assert.deepEqual(cmdline(), ["sleep", "30"]);
        assert.deepEqual(readStatus(svc), up);

        const sv = await new Deno.Command("sv", {
          args: ["-w", "5", "down", svc],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        const svOut = new TextDecoder().decode(sv.stdout) + new TextDecoder().decode(sv.stderr);
        assert.equal(sv.code, 0, svOut);

        const down = readRecord(svc);
        assert.ok(down !== undefined);
        assert.equal(down.state, "down");
        assert.equal(down.want, "down");
        assert.equal(down.pid, 0);
        assert.ok(Math.abs(down.since - Date.now() / 1000) < 2, `since ${down.since} is now`);
        assert.equal(alive(servicePid), false, "the service process is gone");
      } finally {
        // runsv exits on TERM once the service is down; make sure it is.
        Deno.kill(runsv.pid, "SIGTERM");
        if (servicePid > 0 && alive(servicePid)) {
          try {
            Deno.kill(servicePid, "SIGKILL");
          } catch {
            // Already gone.
          }
        }
        const timer = setTimeout(() => {
          try {
            Deno.kill(runsv.pid, "SIGKILL");
          } catch {
            // Already gone.
          }
        }, 5000);
        await runsv.status;
        clearTimeout(timer);
      }
    });
  },
});
