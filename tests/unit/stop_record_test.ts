// The stop record `vm __stop` writes and `vm stop` reads
// (lib/vm/stop_record.ts), the verdict built from it, and the countdown's text.

import assert from "node:assert/strict";
import { join } from "node:path";
import { parseStopRecord, readStopRecord, writeStopRecord } from "../../lib/vm/stop_record.ts";
import { recorded } from "../../lib/actions/start_stop.ts";
import { stopMessage } from "../../cli/commands/start_stop.ts";
import { waitText } from "../../cli/core/wait_line.ts";
import { withTempDir } from "../support/temp_dir.ts";

const REC = { pid: 42, at: 1000, how: "poweroff" as const, ms: 9700, agent: true, wait: 10 };

Deno.test("stop record: written atomically and private, read back only for its QEMU and this stop", async () => {
  await withTempDir((dir) => {
    Deno.mkdirSync(join(dir, "supervise"));
    assert.equal(readStopRecord(dir, 42, 0), undefined, "none yet");
    writeStopRecord(dir, REC);
    const path = join(dir, "supervise/stop");
    assert.equal((Deno.statSync(path).mode ?? 0) & 0o777, 0o600);
    assert.deepEqual(readStopRecord(dir, 42, 1000), REC);
    assert.equal(readStopRecord(dir, 43, 0), undefined, "another QEMU's stop");
    assert.equal(readStopRecord(dir, 42, 1001), undefined, "an earlier stop");
    return Promise.resolve();
  });
});

Deno.test("parseStopRecord: anything but a whole record is no record", () => {
  assert.deepEqual(parseStopRecord(JSON.stringify(REC)), REC);
  assert.deepEqual(parseStopRecord(JSON.stringify({ ...REC, agent: "yes" })), {
    ...REC,
    agent: false,
  });
  for (const bad of ["", "{", "null", "[]", '"x"', JSON.stringify({ ...REC, how: "maybe" })]) {
    assert.equal(parseStopRecord(bad), undefined, bad);
  }
  assert.equal(parseStopRecord(JSON.stringify({ ...REC, ms: -1 })), undefined);
  assert.equal(parseStopRecord(JSON.stringify({ ...REC, pid: "42" })), undefined);
});

Deno.test("recorded: the verdict is what __stop recorded, whatever the time it took", () => {
  // A stop of 10.0 s in all, the guest off in 9.7 s with a wait of 10.
  const off = recorded("web", 10.04, 10, REC);
  assert.equal(
    stopMessage(off),
    'Stopped "web" in 10.0 s (the guest powered off in 9.7 s; it was also asked through the ' +
      "guest agent)",
  );
  const quit = recorded("web", 3.2, 2, { ...REC, how: "quit", ms: 2000, agent: false, wait: 2 });
  assert.equal(
    stopMessage(quit),
    'Stopped "web" in 3.2 s (the guest did not power off within its wait of 2 s; QEMU was told to quit)',
  );
  assert.equal(
    stopMessage(recorded("web", 1, 10, { ...REC, how: "ended", agent: false })),
    'Stopped "web" in 1.0 s (QEMU exited before the guest powered off)',
  );
  assert.equal(
    stopMessage(recorded("web", 1, 10, undefined)),
    'Stopped "web" in 1.0 s (QEMU exited; its stop recorded no outcome: see "vm log web")',
  );
});

Deno.test("waitText: the VM's wait; past it, and once QEMU has exited, what that means", () => {
  const one = (w: { waitedS: number; capS: number; exited?: boolean }) =>
    waitText(new Map([["web", w]]));
  assert.equal(one({ waitedS: 2.4, capS: 10 }), "waiting for web to power off… 2 s of 10");
  assert.equal(
    one({ waitedS: 11, capS: 10 }),
    "waiting for web to power off… 11 s; its wait of 10 s is over, QEMU is told to quit",
  );
  assert.equal(
    one({ waitedS: 3, capS: 10, exited: true }),
    "waiting for web to power off… 3 s; QEMU has exited, its finish runs",
  );
  assert.equal(
    waitText(
      new Map([["web", { waitedS: 12, capS: 300, what: "QEMU up; waiting for the guest" }]]),
    ),
    "web (12 s of 300): QEMU up; waiting for the guest",
  );
});
