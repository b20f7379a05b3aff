/**
 * vmd, `vm daemon`: supervises every VM of a VMDIR by running runit's
 * `runsvdir $VMDIR` as a child, and stops them all gracefully when told to.
 *
 * Why not plain `runsvdir`: on TERM runsvdir exits at once and leaves every
 * runsv and QEMU running (a new runsvdir then cannot lock their
 * `supervise/lock`); on HUP it sends TERM to each runsv but exits at once,
 * without waiting. So vm daemon, on TERM, INT or HUP, stops every VM in
 * parallel, each within its wait: it asks each QEMU it can over QMP itself
 * (lib/service/vmd_stop.ts: its control/t waits for vmd), the others stop
 * through their `control/t`; it HUPs runsvdir, sends TERM to any runsv of
 * the VMDIR that is not runsvdir's child, and waits until no runsv of the
 * VMDIR is left (no `supervise/ok` opens), at most the largest `wait` plus
 * {@link STOP_MARGIN_S} in all; only then does it exit (0; 111 when VMs
 * were still up at the bound) and may a service manager kill what remains.
 *
 * runsvdir runs in its own session, so a terminal's Ctrl-C reaches only
 * vm daemon (QEMU would quit at once on SIGINT). It gets the daemon's
 * environment (config applied) plus {@link DAEMON_ENV}, which marks it as
 * ours.
 *
 * One daemon per VMDIR: an exclusive flock(2) on the VMDIR directory, held
 * for the daemon's life and not inherited by runsvdir, plus a refusal when a
 * runsvdir not started by vm daemon supervises the VMDIR. After a daemon was
 * killed with SIGKILL, the next one finds what it left:
 * - its runsvdir still running (the lock is free, the runsvdir carries our
 *   mark): adopted as it is — its runsv and QEMUs keep running untouched;
 *   it is HUPed on stop like our own child;
 * - runsvdir gone but runsv processes left (reparented): adopted — they keep
 *   supervising their QEMU, a new runsvdir is started, and its own runsv for
 *   such a VM fails to lock `supervise/lock` (runsvdir logs that and retries
 *   every 5 s) until the adopted runsv exits; never a second QEMU. On stop
 *   they get TERM and are waited for.
 *
 * If runsvdir dies while the daemon runs (someone killed it), the daemon
 * starts a new one after 1 s, adopting the runsv the old one left, rather
 * than exiting: a service manager would otherwise kill every QEMU with the
 * daemon's exit (systemd's `KillMode=mixed` SIGKILLs the rest of the unit
 * when its main process is gone). After {@link MAX_QUICK_FAILURES} runsvdirs
 * in a row that each lived less than {@link QUICK_RUNSVDIR_S} seconds, it
 * stops every VM and exits 111.
 *
 * Creates `$VMDIR` (mode 0700) when it does not exist, and says so.
 * Reads `/proc`, `$VMDIR/*` (`supervise/ok`, `wait`); locks `$VMDIR`; stops the
 * VMs (vmd_stop.ts); signals runsvdir (HUP) and runsv (TERM) processes of the VMDIR.
 * @module
 */

import { join } from "../os/path.ts";
import { isMissing, makeDir, MODE, statIfExists } from "../os/fs.ts";
import { DaemonRunningError, describe, SystemError } from "../errors.ts";
import { type Config } from "../vm/config.ts";
import { envOf, isAlive, procStat, signal } from "../os/proc.ts";
import { sleep } from "../os/poll.ts";
import { readStatus } from "../runit/status.ts";
import { listVms, readWait, supervisedVms } from "../vm/dir.ts";
import { findRunsv, findRunsvdir, type Runsv } from "../qemu/processes.ts";
import { settleStops, startStops } from "../service/vmd_stop.ts";

/** Environment variable marking a runsvdir started by vm daemon (its value: the daemon's PID). */
export const DAEMON_ENV = "VM_DAEMON_PID";
/** Seconds added to the largest `wait` for the whole stop (the stop's own grace, finish, hooks). */
export const STOP_MARGIN_S = 10;
/** runsvdir's PATH unless the config sets one. */
const RUNSVDIR_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** A runsvdir that lived less than this (seconds) failed quickly. */
export const QUICK_RUNSVDIR_S = 10;
/** Quick runsvdir failures in a row after which the daemon gives up. */
export const MAX_QUICK_FAILURES = 5;

/** The signals that stop the daemon gracefully. */
export const STOP_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;

/** The longest a stop may take: the largest wait plus the margin. Pure. */
export function stopBoundS(waits: readonly number[], margin = STOP_MARGIN_S): number {
  return Math.max(0, ...waits) + margin;
}

/**
 * The PID holding a flock on the file with inode `ino`, from the text of
 * `/proc/locks`. Pure; undefined when none is listed.
 */
export function flockHolder(locks: string, ino: number): number | undefined {
  for (const line of locks.split("\n")) {
    // "3: FLOCK  ADVISORY  WRITE 16131 fe:00:2154835 0 EOF"
    const f = line.trim().split(/\s+/);
    if (f[1] !== "FLOCK" || f[3] !== "WRITE") continue;
    if (f[5]?.split(":")[2] === String(ino)) return Number(f[4]);
  }
  return undefined;
}

/**
 * Takes the daemon's exclusive lock on `vmdir` (flock on the directory; held
 * until the returned file is closed or the process dies). Throws
 * DaemonRunningError when another daemon holds it.
 */
export function lockVmdir(vmdir: string): Deno.FsFile {
  const dir = Deno.openSync(vmdir, { read: true });
  if (dir.tryLockSync(true)) return dir;
  dir.close();
  let holder: number | undefined;
  try {
    holder = flockHolder(Deno.readTextFileSync("/proc/locks"), Deno.statSync(vmdir).ino ?? -1);
  } catch (e) {
    // No /proc/locks to read: the message goes without the PID.
    if (!(isMissing(e) || e instanceof Deno.errors.PermissionDenied)) throw e;
  }
  throw new DaemonRunningError(
    `Another "vm daemon"${holder ? ` (PID ${holder})` : ""} already supervises "${vmdir}"; ` +
      `stop it first, or use "vm sv" to control its VMs`,
  );
}

/** The runsvdir the daemon uses: its own child, or one adopted from a killed daemon. */
interface RunsvdirHandle {
  pid: number;
  startTime: number;
  /** Our child; undefined when adopted. */
  child?: Deno.ChildProcess;
  /** Resolves with a description when it has exited. */
  exited: Promise<string>;
  /** performance.now() when we started or adopted it. */
  since: number;
}

/**
 * Creates `vmdir` with mode 0700 whatever the umask (its parents as
 * needed), when it does not exist; returns whether it did.
 */
export function createVmdir(vmdir: string): boolean {
  if (statIfExists(vmdir) !== undefined) return false;
  makeDir(vmdir, MODE.dir, true); // a VMDIR vm makes is private (0700)
  return true;
}

/** What the daemon reports while it runs (one line each, for its log). */
export type DaemonLog = (line: string) => void;

function names(list: readonly string[]): string {
  return list.map((n) => `"${n}"`).join(", ");
}

/** Runs one vm daemon on `cfg.vmdir` until a stop signal; returns its exit code. */
export class Daemon {
  readonly vmdir: string;
  readonly #cfg: Config;
  /** runsvdir's PATH: the config's, or the standard one. */
  readonly #path: string;
  readonly #log: DaemonLog;
  #rsd?: RunsvdirHandle;
  #stopping = false;
  #stopSignal?: (sig: string) => void;
  readonly #stopRequested: Promise<string>;
  /** Ends the polling of an adopted runsvdir. */
  #closed = false;

  constructor(cfg: Config, log: DaemonLog) {
    this.#cfg = cfg;
    this.#path = cfg.env.PATH ?? RUNSVDIR_PATH;
    this.#log = log;
    try {
      if (createVmdir(cfg.vmdir)) log(`created VMDIR "${cfg.vmdir}" (mode 0700): it did not exist`);
      this.vmdir = Deno.realPathSync(cfg.vmdir);
    } catch (e) {
      throw new SystemError(`Cannot use VMDIR "${cfg.vmdir}": ${describe(e)}`);
    }
    this.#stopRequested = new Promise((resolve) => (this.#stopSignal = resolve));
  }

  /** Asks the daemon to stop, as TERM does. */
  requestStop(why: string): void {
    if (this.#stopping) {
      this.#log(`${why}: already stopping`);
      return;
    }
    this.#stopping = true;
    this.#stopSignal?.(why);
  }

  /** Runs until stopped: locks, adopts or starts runsvdir, waits, stops every VM. */
  async run(): Promise<number> {
    const lock = lockVmdir(this.vmdir);
    const handlers = STOP_SIGNALS.map((sig) => {
      const h = () => this.requestStop(`${sig.slice(3)} received`);
      Deno.addSignalListener(sig, h);
      return [sig, h] as const;
    });
    try {
      this.#rsd = this.#adoptOrStart();
      let quick = 0;
      for (;;) {
        const rsd = this.#rsd;
        const ev = await Promise.race([
          this.#stopRequested.then((why) => ({ stop: why })),
          rsd.exited.then((how) => ({ died: how })),
        ]);
        if ("stop" in ev) {
          this.#log(`${ev.stop}: stopping every VM of "${this.vmdir}"`);
          return await this.#stopAll();
        }
        const lived = (performance.now() - rsd.since) / 1000;
        quick = lived < QUICK_RUNSVDIR_S ? quick + 1 : 1;
        if (quick >= MAX_QUICK_FAILURES) {
          this.#log(
            `runsvdir PID ${rsd.pid} ${ev.died}, the ${quick}th time in a row within ` +
              `${QUICK_RUNSVDIR_S} s; giving up: stopping every VM`,
          );
          this.#stopping = true;
          const code = await this.#stopAll();
          return code === 0 ? 111 : code;
        }
        this.#log(`runsvdir PID ${rsd.pid} ${ev.died} unexpectedly; starting a new one in 1 s`);
        const stop = await Promise.race([
          sleep(1000).then(() => false),
          this.#stopRequested.then(() => true),
        ]);
        if (stop) {
          this.#log(`stopping every VM of "${this.vmdir}"`);
          return await this.#stopAll();
        }
        this.#rsd = this.#adoptOrStart();
      }
    } finally {
      this.#closed = true;
      for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
      lock.close();
    }
  }

  /** Adopts a runsvdir left by a killed daemon, or starts one (adopting left-over runsv). */
  #adoptOrStart(): RunsvdirHandle {
    const ours: number[] = [];
    for (const pid of findRunsvdir(this.vmdir)) {
      const mark = envOf(pid, DAEMON_ENV);
      if (mark === undefined) {
        throw new DaemonRunningError(
          `runsvdir PID ${pid} already supervises "${this.vmdir}" and was not started by ` +
            `"vm daemon"; stop it (and the service that runs it) first`,
        );
      }
      ours.push(pid);
    }
    const [adopt, ...extra] = ours;
    for (const pid of extra) {
      // Two left-over runsvdirs (never seen): keep one; TERM leaves the others' runsv running.
      this.#log(`runsvdir PID ${pid} is a second left-over runsvdir; sent it TERM`);
      signal(pid, "SIGTERM");
    }
    if (adopt !== undefined) {
      const st = procStat(adopt);
      if (st !== undefined) {
        const vms = supervisedVms(this.vmdir);
        this.#log(
          `adopted runsvdir PID ${adopt}, left over from vm daemon PID ` +
            `${envOf(adopt, DAEMON_ENV)} (killed?); its VMs keep running` +
            (vms.length ? `: ${names(vms)}` : ""),
        );
        return this.#watchAdopted(adopt, st.startTime);
      }
    }
    for (const r of findRunsv(this.vmdir)) {
      this.#log(
        `VM "${r.vm}": adopted runsv PID ${r.pid}, left over from a runsvdir that was ` +
          `killed; its QEMU keeps running. Until it stops, runsvdir reports "unable to lock ` +
          `supervise/lock" for "${r.vm}" every 5 s (harmless: never a second QEMU)`,
      );
    }
    return this.#start();
  }

  #start(): RunsvdirHandle {
    const env: Record<string, string> = {
      ...this.#cfg.env,
      PATH: this.#path,
      VMDIR: this.vmdir,
      [DAEMON_ENV]: String(Deno.pid),
    };
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command("runsvdir", {
        args: [this.vmdir],
        env,
        clearEnv: true,
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
        detached: true, // its own session: a terminal's Ctrl-C does not reach runsv or QEMU
      }).spawn();
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new SystemError('runit\'s "runsvdir" is not installed; install the "runit" package');
      }
      throw new SystemError(`Cannot start runsvdir: ${describe(e)}`);
    }
    const exited = child.status.then((s) =>
      s.signal ? `was killed by ${s.signal}` : `exited with code ${s.code}`
    );
    this.#log(`supervising "${this.vmdir}" (runsvdir PID ${child.pid})`);
    return {
      pid: child.pid,
      startTime: procStat(child.pid)?.startTime ?? 0,
      child,
      exited,
      since: performance.now(),
    };
  }

  #watchAdopted(pid: number, startTime: number): RunsvdirHandle {
    const exited = (async () => {
      while (!this.#closed && isAlive(pid, startTime)) await sleep(500);
      return "exited";
    })();
    return { pid, startTime, exited, since: performance.now() };
  }

  /**
   * Stops the VMs it can itself (lib/service/vmd_stop.ts), HUPs runsvdir, TERMs the runsv that
   * are not its children, and waits until no runsv of the VMDIR is left, at most the largest
   * wait plus the margin. Returns 0 when all are down, 111 otherwise.
   */
  async #stopAll(): Promise<number> {
    const t0 = performance.now();
    const rsd = this.#rsd;
    const rsdLives = () => rsd !== undefined && isAlive(rsd.pid, rsd.startTime || undefined);
    // Supervised VMs that are not down (running, or in finish: a backoff).
    const up = supervisedVms(this.vmdir).filter((vm) =>
      readStatus(join(this.vmdir, vm))?.state !== "down"
    );
    // The bound counts every VM's wait: one may be starting just now.
    const bound = stopBoundS(listVms(this.vmdir).map((vm) => readWait(join(this.vmdir, vm))));
    this.#log(
      up.length === 0
        ? "no VM is running"
        : `stopping ${up.length} VM(s) in parallel, each within its wait (at most ${bound} s): ` +
          names(up),
    );
    const stops = startStops(this.vmdir, up, { path: this.#path, log: this.#log });
    // runsvdir's children get TERM from runsvdir itself (on HUP); every other
    // runsv (adopted) from us. Each runsv gets TERM once: a second one could
    // run control/t again while the first still powers the guest off.
    const termed = new Set<number>();
    const term = (r: Runsv, why: string) => {
      if (termed.has(r.pid)) return;
      termed.add(r.pid);
      if (signal(r.pid, "SIGTERM")) this.#log(`VM "${r.vm}": sent TERM to ${why} runsv ${r.pid}`);
    };
    const rsdPid = rsdLives() ? rsd?.pid : undefined;
    // Found before the HUP: once runsvdir is gone, its children's parent is another.
    const adopted = findRunsv(this.vmdir).filter((r) => r.ppid !== rsdPid);
    if (rsdPid !== undefined) signal(rsdPid, "SIGHUP");
    for (const r of adopted) term(r, "adopted");
    let rsdGoneChecked = rsdPid === undefined;
    const deadline = t0 + bound * 1000;
    let left = new Set(up);
    for (;;) {
      const rsdLeft = rsdPid !== undefined && rsdLives();
      if (rsdLeft) {
        // Again: runsvdir acts on a HUP that arrives while it is not waiting
        // in poll(2) only when it next wakes up, up to 5 s later.
        signal(rsdPid, "SIGHUP");
      } else if (!rsdGoneChecked) {
        rsdGoneChecked = true;
        const st = rsd?.child === undefined ? undefined : await rsd.child.status;
        if (st?.signal) {
          // It died of the signal before it could catch it (just started):
          // its runsv did not get TERM from it.
          for (const r of findRunsv(this.vmdir)) term(r, "its");
        }
      }
      const now = supervisedVms(this.vmdir).filter((vm) => left.has(vm));
      for (const vm of left) {
        if (!now.includes(vm)) {
          this.#log(`VM "${vm}" is down (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
        }
      }
      left = new Set(now);
      if (!rsdLeft && left.size === 0 && findRunsv(this.vmdir).length === 0) break;
      if (performance.now() >= deadline) {
        const still = [...left, ...findRunsv(this.vmdir).map((r) => r.vm)];
        this.#log(
          `still up after ${bound} s: ${names([...new Set(still)])}` +
            (rsdLeft ? ` (runsvdir PID ${rsdPid} ignored HUP)` : "") +
            `; exiting (the service manager may now kill them)`,
        );
        return 111;
      }
      await sleep(50);
    }
    await settleStops(this.vmdir, stops, this.#log);
    this.#log(`every VM is down (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    return 0;
  }
}

/** `vm daemon`: runs the daemon on `cfg.vmdir`; returns its exit code. See the module doc. */
export async function runDaemon(cfg: Config, log: DaemonLog): Promise<number> {
  return await new Daemon(cfg, log).run();
}
