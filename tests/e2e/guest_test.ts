/**
 * Tests for the test guest of ./guest.ts: it boots under QEMU, obeys (or, in
 * the deaf variant, ignores) the ACPI power button, and runs a shell on the
 * serial console.
 */

import assert from "node:assert/strict";
import {
  GUEST_POWERDOWN,
  GUEST_READY,
  guestAppend,
  guestArgs,
  testGuest,
  waitForText,
} from "../support/guest.ts";
import { withTempDir } from "../support/temp_dir.ts";

const QEMU = "qemu-system-x86_64";
const BOOT_TIMEOUT_MS = 60_000;

/** A QEMU process started by a test. */
interface Qemu {
  pid: number;
  /** Resolves when QEMU has exited (its stderr collected). */
  done: Promise<Deno.CommandOutput>;
  exited(): boolean;
}

function startQemu(args: string[]): Qemu {
  const child = new Deno.Command(QEMU, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let exited = false;
  const done = child.output().finally(() => {
    exited = true;
  });
  return { pid: child.pid, done, exited: () => exited };
}

/** Kills QEMU by PID if it is still running, and waits for it. */
async function stopQemu(q: Qemu | undefined): Promise<void> {
  if (!q) return;
  if (!q.exited()) {
    try {
      Deno.kill(q.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  await q.done.catch(() => {});
}

/** Resolves to p's value, or to "timeout" after ms. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Minimal QMP client over a unix socket. */
class Qmp {
  #buf = "";
  #dec = new TextDecoder();
  #enc = new TextEncoder();
  private constructor(readonly conn: Deno.UnixConn) {}

  /** Connects and does the capabilities handshake. */
  static async connect(path: string): Promise<Qmp> {
    const conn = await Deno.connect({ transport: "unix", path });
    const qmp = new Qmp(conn);
    try {
      const greeting = await qmp.#message();
      assert.ok("QMP" in greeting, `bad QMP greeting: ${JSON.stringify(greeting)}`);
      await qmp.execute("qmp_capabilities");
    } catch (e) {
      conn.close();
      throw e;
    }
    return qmp;
  }

  /** Reads the next JSON message (a line). */
  async #message(): Promise<Record<string, unknown>> {
    for (;;) {
      const nl = this.#buf.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buf.slice(0, nl).trim();
        this.#buf = this.#buf.slice(nl + 1);
        if (line) return JSON.parse(line);
        continue;
      }
      const chunk = new Uint8Array(4096);
      const n = await this.conn.read(chunk);
      if (n === null) throw new Error("QMP connection closed");
      this.#buf += this.#dec.decode(chunk.subarray(0, n), { stream: true });
    }
  }

  /** Sends a command; returns its "return" value (events are skipped). */
  async execute(command: string): Promise<unknown> {
    await this.send(command);
    for (;;) {
      const msg = await this.#message();
      if ("error" in msg) {
        throw new Error(`QMP ${command}: ${JSON.stringify(msg.error)}`);
      }
      if ("return" in msg) return msg.return;
    }
  }

  /** Sends a command without waiting for its reply. */
  async send(command: string): Promise<void> {
    const data = this.#enc.encode(JSON.stringify({ execute: command }) + "\n");
    for (let off = 0; off < data.length;) {
      off += await this.conn.write(data.subarray(off));
    }
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** Waits for GUEST-READY; fails with the serial log and QEMU's stderr. */
async function assertReady(
  qemu: Qemu,
  serial: string,
  start: number,
): Promise<number> {
  const ready = await waitForText(serial, GUEST_READY, BOOT_TIMEOUT_MS);
  const ms = Math.round(performance.now() - start);
  if (!ready) {
    const log = await Deno.readTextFile(serial).catch(() => "");
    let stderr = "";
    if (qemu.exited()) {
      stderr = new TextDecoder().decode((await qemu.done).stderr);
    }
    assert.fail(
      `no ${GUEST_READY} within ${BOOT_TIMEOUT_MS} ms` +
        `\n--- serial ---\n${log}\n--- qemu stderr ---\n${stderr}`,
    );
  }
  const log = await Deno.readTextFile(serial);
  assert.ok(
    !log.includes("GUEST-INIT-ERROR"),
    `guest init reported an error:\n${log}`,
  );
  return ms;
}

/** A guest booted by {@link withReadyGuest}, its serial log and how long it took to boot. */
interface ReadyGuest {
  qemu: Qemu;
  qmp: Qmp;
  serial: string;
  bootMs: number;
}

/**
 * Boots the test guest in a temp dir (serial console to a file, a QMP
 * socket), waits for GUEST-READY, connects QMP and runs `fn`; then QEMU is
 * killed by PID if it still runs and the dir is removed.
 */
async function withReadyGuest(
  opts: { deaf?: boolean },
  fn: (g: ReadyGuest) => Promise<void>,
): Promise<void> {
  const g = await testGuest();
  await withTempDir(async (dir) => {
    const serial = `${dir}/serial.log`;
    const qmpPath = `${dir}/qmp`;
    const start = performance.now();
    const qemu = startQemu([
      ...guestArgs(g, opts),
      "-serial",
      `file:${serial}`,
      "-qmp",
      `unix:${qmpPath},server=on,wait=off`,
    ]);
    let qmp: Qmp | undefined;
    try {
      const bootMs = await assertReady(qemu, serial, start);
      qmp = await Qmp.connect(qmpPath);
      await fn({ qemu, qmp, serial, bootMs });
    } finally {
      qmp?.close();
      await stopQemu(qemu);
    }
  });
}

Deno.test("guestAppend and guestArgs", () => {
  assert.equal(guestAppend(), "console=ttyS0 quiet panic=-1");
  assert.equal(
    guestAppend({ deaf: true }),
    "console=ttyS0 quiet panic=-1 vmtest.deaf=1",
  );
  const args = guestArgs({ kernel: "/k", initrd: "/i" }, {
    deaf: true,
    mem: "256M",
  });
  assert.deepEqual(args, [
    "-accel",
    "tcg",
    "-m",
    "256M",
    "-display",
    "none",
    "-no-reboot",
    "-kernel",
    "/k",
    "-initrd",
    "/i",
    "-append",
    "console=ttyS0 quiet panic=-1 vmtest.deaf=1",
  ]);
  // A script to run (base64 on the command line), and the aarch64 guest's machine and console.
  assert.equal(
    guestAppend({ run: "echo hi" }),
    "console=ttyS0 quiet panic=-1 vmtest.run=ZWNobyBoaQ==",
  );
  const arm = guestArgs({ kernel: "/k", initrd: "/i", arch: "aarch64" });
  assert.deepEqual(arm.slice(0, 4), ["-machine", "virt", "-cpu", "max"]);
  assert.equal(arm.at(-1), "console=ttyAMA0 quiet panic=-1");
});

Deno.test("testGuest builds a kernel and a newc initramfs, cached", async () => {
  const t0 = performance.now();
  const g = await testGuest();
  const again = await testGuest();
  console.log(`testGuest(): ${Math.round(performance.now() - t0)} ms`);
  assert.deepEqual(again, g);
  const initrd = await Deno.readFile(g.initrd);
  assert.equal(new TextDecoder().decode(initrd.subarray(0, 6)), "070701");
  assert.equal(initrd.length % 4, 0);
  assert.ok(new TextDecoder("latin1").decode(initrd).includes("TRAILER!!!"));
  console.log(`initrd: ${initrd.length} bytes`);
  const kernel = await Deno.readFile(g.kernel);
  // bzImage: "HdrS" boot protocol magic at 0x202.
  assert.equal(new TextDecoder().decode(kernel.subarray(0x202, 0x206)), "HdrS");
});

Deno.test("guest powers off on ACPI system_powerdown", async () => {
  await withReadyGuest({}, async ({ qemu, qmp, serial, bootMs }) => {
    console.log(`boot to ${GUEST_READY}: ${bootMs} ms`);
    assert.ok(!qemu.exited(), "QEMU exited before system_powerdown");
    await qmp.execute("system_powerdown");
    const out = await within(qemu.done, 15_000);
    assert.notEqual(out, "timeout", "QEMU still running 15 s after powerdown");
    const log = await Deno.readTextFile(serial);
    assert.ok(log.includes(GUEST_POWERDOWN), `no ${GUEST_POWERDOWN}:\n${log}`);
  });
});

Deno.test("deaf guest ignores ACPI system_powerdown", async () => {
  await withReadyGuest({ deaf: true }, async ({ qemu, qmp, serial }) => {
    await qmp.execute("system_powerdown");
    await sleep(3_000);
    assert.ok(!qemu.exited(), "deaf guest exited after system_powerdown");
    const log = await Deno.readTextFile(serial);
    assert.ok(!log.includes(GUEST_POWERDOWN), `deaf guest obeyed:\n${log}`);
    await qmp.send("quit");
    const out = await within(qemu.done, 15_000);
    assert.notEqual(out, "timeout", "QEMU still running 15 s after quit");
  });
});

Deno.test("guest runs a shell on the serial console", async () => {
  await withTempDir(async (dir) => {
    let qemu: Qemu | undefined;
    let conn: Deno.UnixConn | undefined;
    let draining: Promise<void> | undefined;
    try {
      const g = await testGuest();
      const sock = `${dir}/serial.sock`;
      const serial = `${dir}/serial.log`;
      const start = performance.now();
      qemu = startQemu([
        ...guestArgs(g),
        "-chardev",
        `socket,id=ser0,path=${sock},server=on,wait=off,logfile=${serial}`,
        "-serial",
        "chardev:ser0",
      ]);
      for (let i = 0; !conn; i++) {
        try {
          conn = await Deno.connect({ transport: "unix", path: sock });
        } catch (e) {
          if (i >= 200 || qemu.exited()) throw e;
          await sleep(50);
        }
      }
      // Drain the socket: QEMU's serial writes it a byte at a time, and a unix
      // socket nobody reads fills up after a few hundred of those (each byte is
      // its own skb), which stalls the guest's console output.
      const c = conn;
      draining = (async () => {
        const buf = new Uint8Array(4096);
        while (await c.read(buf) !== null) { /* the log file has it all */ }
      })().catch(() => {});
      await assertReady(qemu, serial, start);
      const cmd = new TextEncoder().encode("echo hi-$((6*7))\n");
      for (let off = 0; off < cmd.length;) {
        off += await conn.write(cmd.subarray(off));
      }
      assert.ok(
        await waitForText(serial, "hi-42", 15_000),
        `no hi-42 from the shell:\n${await Deno.readTextFile(serial)}`,
      );
    } finally {
      try {
        conn?.close();
      } catch {
        // Already closed.
      }
      await stopQemu(qemu);
      await draining;
    }
  });
});
