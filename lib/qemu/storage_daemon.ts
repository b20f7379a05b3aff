/**
 * A stopped VM's disks opened by `qemu-storage-daemon` (package
 * qemu-system-common), so that `vm backup` runs on them the same QMP block
 * jobs and persistent dirty bitmaps as on a running QEMU
 * (lib/qemu/block_backup.ts). The daemon works in the VM's directory,
 * marked as a companion of the VM (`VM_COMPANION=qemu-storage-daemon of "vm
 * backup" (PID n)`, n the `vm backup` it serves) in its own session (a
 * terminal's Ctrl-C reaches `vm backup` only, which cancels the jobs and
 * quits it); its QMP socket is in a private temporary directory. It takes
 * the images' locks: a `vm start` meanwhile is refused (lib/service/
 * companions.ts names the daemon). It is ended on every path (quit, else
 * SIGTERM, then SIGKILL); one left by a killed `vm backup` is found by its
 * mark and ended by the next backup, and `vm doctor` reports it.
 * @module
 */

import { SystemError } from "../errors.ts";
import { basename, dirname, join, resolve } from "../os/path.ts";
import { pathExists } from "../os/lookup.ts";
import { pollUntil } from "../os/poll.ts";
import { cmdlineOf, isAlive, signal } from "../os/proc.ts";
import { findExecutable } from "../os/exec.ts";
import { COMPANION_ENV, companionsIn } from "./processes.ts";
import { QmpClient } from "./qmp.ts";

/** The program. */
export const STORAGE_DAEMON = "qemu-storage-daemon";

/** The Debian package that has it. */
export const STORAGE_DAEMON_PACKAGE = "qemu-system-common";

/** The prefix of the socket's private temporary directory. */
const TMP_PREFIX = "vm-qsd-";

/** How long the daemon may take to open the disks and make its socket, and to quit. */
const START_MS = 10_000;
const QUIT_MS = 10_000;
/** How long it has after SIGTERM before SIGKILL. */
const TERM_MS = 2_000;

/** The path of qemu-storage-daemon on `PATH`, or undefined when it is not installed. */
export function storageDaemonPath(): string | undefined {
  const found = findExecutable(STORAGE_DAEMON, Deno.env.get("PATH") ?? "/usr/bin:/bin", Deno.cwd());
  return found === undefined ? undefined : resolve(Deno.cwd(), found);
}

/** The mark of the daemon serving the `vm backup` of PID `pid`. Pure. */
export function daemonMark(pid: number = Deno.pid): string {
  return `${STORAGE_DAEMON} of "vm backup" (PID ${pid})`;
}

/** The PID of the `vm backup` in a companion mark of {@link daemonMark}, or undefined. Pure. */
export function daemonOwner(mark: string): number | undefined {
  const m = /^qemu-storage-daemon of "vm backup" \(PID ([0-9]+)\)$/.exec(mark);
  return m === null ? undefined : Number(m[1]);
}

/** A disk to open: its image file, its format driver, the format node's name. */
export interface DaemonDisk {
  path: string;
  format: string;
  node: string;
}

/** The daemon's arguments for `disks` and the monitor socket `socket`. Pure. */
export function daemonArgs(disks: readonly DaemonDisk[], socket: string): string[] {
  const args: string[] = [];
  for (const d of disks) {
    const file = `${d.node}-file`;
    args.push(
      "--blockdev",
      JSON.stringify({ driver: "file", "node-name": file, filename: d.path }),
      "--blockdev",
      JSON.stringify({ driver: d.format, "node-name": d.node, file }),
    );
  }
  // The chardev's options are comma-separated: a comma in the path is doubled.
  const path = socket.replaceAll(",", ",,");
  args.push("--chardev", `socket,path=${path},server=on,wait=off,id=m`, "--monitor", "chardev=m");
  return args;
}

/** The private directory of the socket in daemon arguments `argv` ({@link daemonArgs}), or undefined. Pure. */
export function socketDir(argv: readonly string[]): string | undefined {
  const chardev = argv.find((a) => a.startsWith("socket,path="));
  const m = chardev === undefined ? null : /^socket,path=((?:[^,]|,,)*),/.exec(chardev);
  const dir = m?.[1] === undefined ? undefined : dirname(m[1].replaceAll(",,", ","));
  return dir !== undefined && basename(dir).startsWith(TMP_PREFIX) ? dir : undefined;
}

/** Sends SIGTERM to `pid`, then SIGKILL when it is still there after a grace. */
async function endPid(pid: number, gone: () => boolean): Promise<void> {
  if (!signal(pid, "SIGTERM")) return;
  if (!await pollUntil(gone, TERM_MS, 20)) signal(pid, "SIGKILL");
}

/** A running daemon: its QMP connection; end it with {@link StorageDaemon.quit} or `end`. */
export class StorageDaemon {
  readonly qmp: QmpClient;
  #child: Deno.ChildProcess;
  #tmp: string;
  #exit: Deno.CommandStatus | undefined;
  #stderr: Promise<string>;

  private constructor(
    qmp: QmpClient,
    child: Deno.ChildProcess,
    tmp: string,
    stderr: Promise<string>,
  ) {
    this.qmp = qmp;
    this.#child = child;
    this.#tmp = tmp;
    this.#stderr = stderr;
    child.status.then((s) => this.#exit = s);
  }

  /**
   * Starts the daemon with `disks` open, in directory `vmDir` (its
   * companion mark names this process), and connects to its monitor.
   * Throws SystemError with the daemon's own first line when it cannot
   * (an image locked by a QEMU that started meanwhile, a missing file).
   */
  static async start(
    program: string,
    vmDir: string,
    disks: readonly DaemonDisk[],
  ): Promise<StorageDaemon> {
    const tmp = Deno.makeTempDirSync({ prefix: TMP_PREFIX });
    const socket = join(tmp, "qmp");
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(program, {
        args: daemonArgs(disks, socket),
        cwd: vmDir,
        env: { [COMPANION_ENV]: daemonMark() },
        stdin: "null",
        stdout: "null",
        stderr: "piped",
        detached: true, // its own session: a terminal's Ctrl-C goes to vm backup, which quits it
      }).spawn();
    } catch (e) {
      Deno.removeSync(tmp, { recursive: true });
      throw e;
    }
    const stderr = new Response(child.stderr).text().catch(() => "");
    let exit: Deno.CommandStatus | undefined;
    child.status.then((s) => exit = s);
    try {
      await pollUntil(() => exit !== undefined || pathExists(socket), START_MS, 10);
      if (exit !== undefined || !pathExists(socket)) {
        const text = exit === undefined ? "" : await stderr;
        const line = text.trim().split("\n")[0]?.replace(/^qemu-storage-daemon: /, "")
          .replace(/^--blockdev \{.*?\}: /, "");
        throw new SystemError(
          `${STORAGE_DAEMON} could not open the disks: ${
            line || (exit === undefined ? `no socket within ${START_MS / 1000} s` : "it exited")
          }`,
        );
      }
      const qmp = await QmpClient.connect(socket, { timeoutMs: START_MS });
      return new StorageDaemon(qmp, child, tmp, stderr);
    } catch (e) {
      await endPid(child.pid, () => exit !== undefined);
      await child.status;
      Deno.removeSync(tmp, { recursive: true });
      throw e;
    }
  }

  /**
   * Quits the daemon (QMP `quit`: it closes the disks, writing their
   * persistent bitmaps) and waits for its end. Throws SystemError when it
   * fails to (it is ended all the same).
   */
  async quit(): Promise<void> {
    try {
      await this.qmp.execute("quit").catch((e) => {
        // The reply may be lost as the daemon closes its monitor: its exit status tells.
        if (!(e instanceof SystemError)) throw e;
      });
      if (!await pollUntil(() => this.#exit !== undefined, QUIT_MS, 10)) {
        throw new SystemError(`${STORAGE_DAEMON} did not quit within ${QUIT_MS / 1000} s`);
      }
      const st = this.#exit;
      if (st !== undefined && !st.success) {
        const line = (await this.#stderr).trim().split("\n").at(-1) ?? "";
        throw new SystemError(
          `${STORAGE_DAEMON} failed to close the disks (${
            st.signal ?? `code ${st.code}`
          }): ${line}`,
        );
      }
    } finally {
      await this.end();
    }
  }

  /** Ends the daemon whatever its state (SIGTERM, then SIGKILL) and removes its socket's directory. */
  async end(): Promise<void> {
    this.qmp.close();
    if (this.#exit === undefined) await endPid(this.#child.pid, () => this.#exit !== undefined);
    await this.#child.status;
    await this.#stderr;
    try {
      Deno.removeSync(this.#tmp, { recursive: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }

  /** Whether the daemon is still there. */
  get alive(): boolean {
    return this.#exit === undefined;
  }
}

/**
 * Ends the daemons left in `vmDir` by a `vm backup` that is gone (killed):
 * they hold the disks' locks. Returns how many. Reads `/proc`.
 */
export async function endStrayDaemons(vmDir: string): Promise<number> {
  let n = 0;
  for (const p of companionsIn(vmDir, { children: false })) {
    const owner = daemonOwner(p.name);
    if (owner === undefined || isAlive(owner)) continue;
    const dir = socketDir(cmdlineOf(p.pid) ?? []);
    await endPid(p.pid, () => !isAlive(p.pid));
    if (dir !== undefined) Deno.removeSync(dir, { recursive: true });
    n++;
  }
  return n;
}
