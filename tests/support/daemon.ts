/**
 * Test support for vm daemon tests (not a test file): a `vm daemon`
 * subprocess with its stderr collected, guest VMs that start with vmd,
 * waiting for their guests, and the processes left in a VMDIR.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { GUEST_READY, waitForText } from "./guest.ts";
import { exeOf, processesIn, readOr, type TestEnv } from "./harness.ts";

/** How long all guests of one test get to boot (TCG, 2 cores shared with other tests). */
export const BOOT_MS = 120_000;

/** A `vm daemon` subprocess whose stderr is collected. */
export interface DaemonProc {
  child: Deno.ChildProcess;
  pid: number;
  /** Everything it (and runsvdir, which shares its stderr) wrote so far. */
  log(): string;
  /** Its exit status. */
  status: Promise<Deno.CommandStatus>;
}

/** Starts `vm daemon` with the env of `t` (killed by PID in `t.close()` if still running). */
export function startDaemon(t: TestEnv): DaemonProc {
  const child = t.spawn(t.vmExe, { args: ["daemon"], stderr: "piped" });
  let text = "";
  (async () => {
    const dec = new TextDecoder();
    for await (const chunk of child.stderr) text += dec.decode(chunk, { stream: true });
  })().catch(() => {});
  return { child, pid: child.pid, log: () => text, status: child.status };
}

/** Kills `pid` with SIGKILL if it still lives. */
export function killHard(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch { /* gone */ }
}

/** The QEMU processes running in VM directory `dir` (their cwd is it). */
export function qemusIn(dir: string): number[] {
  return processesIn(dir).filter((pid) =>
    (exeOf(pid) ?? "").includes("qemu-system") &&
    (() => {
      try {
        return Deno.readLinkSync(`/proc/${pid}/cwd`) === dir;
      } catch {
        return false;
      }
    })()
  );
}

/** runsv and QEMU processes left anywhere in the VMDIR. */
export function leftovers(vmdir: string): string[] {
  return processesIn(vmdir).map((pid) => `${pid} ${exeOf(pid) ?? "?"}`);
}

/** Makes guest VMs that start with vmd (no `down` file). */
export async function makeAutostart(
  t: TestEnv,
  specs: { name: string; wait?: number; deaf?: boolean; mem?: string }[],
): Promise<string[]> {
  const dirs: string[] = [];
  for (const s of specs) {
    const dir = await t.makeGuestVm(s.name, s);
    Deno.removeSync(join(dir, "down"));
    dirs.push(dir);
  }
  return dirs;
}

/** Waits until every VM in `dirs` runs QEMU and its guest printed the ready marker. */
export async function allReady(dirs: string[], timeoutMs = BOOT_MS): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (const dir of dirs) {
    assert.ok(
      await waitForText(join(dir, "guest.log"), GUEST_READY, Math.max(0, end - Date.now())),
      `${dir} not ready: ${readOr(join(dir, "guest.log")).slice(-400)} / ` +
        readOr(join(dir, "log/main/current")).slice(-400),
    );
  }
}

/**
 * Guest memory for the many-VM load test and bench. The issue asks for
 * `-m 64M`, but the test guest's kernel (Debian's cloud kernel) cannot boot
 * in 64 MiB: its decompressor runs at the 16 MiB load address and needs
 * `init_size` (about 51 MiB) above it, so with 64M it writes past the end of
 * RAM (QEMU logs "Invalid write at addr 0x435CFFC", then a triple fault:
 * QEMU exits at once without a byte on the console). 80M is the next size
 * that boots reliably (see tests/guest.ts). QEMU allocates guest RAM lazily.
 */
export const LOAD_MEM = "80M";
