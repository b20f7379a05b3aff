/**
 * Waiting until a VM answers SSH with its pinned host key: a look at the
 * forwarded port tells how far the guest is (nothing answers, port 22
 * refused, sshd's banner), and once sshd answers `ssh` runs `true` in the
 * guest (BatchMode, StrictHostKeyChecking=yes, the VM's known_hosts) until
 * it succeeds; a host key that does not match the pinned one fails at once.
 * Each attempt is bounded, and so is the whole. Connects to 127.0.0.1;
 * spawns `ssh`.
 * Level: vm.
 * @module
 */

import { CheckFailedError, SystemError } from "../errors.ts";
import { sleep } from "../os/poll.ts";
import { closeQuietly, isStreamEnd } from "../os/io.ts";
import { showable } from "../text/guest_text.ts";
import { sshArgv, type SshTarget } from "./ssh_args.ts";

/** What ssh said when the host key is not the pinned one. */
const HOST_KEY_ERROR =
  /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No \S+ host key is known/;

/** Seconds ssh gets per attempt to connect (slirp accepts at once; the guest may not). */
const CONNECT_TIMEOUT_S = 5;
const ATTEMPT_MS = 20_000;
const RETRY_MS = 500;

/** One attempt: ssh's exit code and stderr. */
async function attempt(t: SshTarget): Promise<{ code: number; stderr: string }> {
  const [cmd = "ssh", ...args] = sshArgv(t, ["true"], [
    "-o",
    "BatchMode=yes",
    "-o",
    `ConnectTimeout=${CONNECT_TIMEOUT_S}`,
    "-o",
    "LogLevel=ERROR",
  ]);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cmd, { args, stdin: "null", stdout: "null", stderr: "piped" }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new SystemError(`"ssh" is not installed; install openssh-client`);
    }
    throw e;
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch (e) {
      if (!(e instanceof TypeError)) throw e; // already exited
    }
  }, ATTEMPT_MS);
  try {
    const out = await child.output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** What a look at the SSH forward's host port found. */
export type PortProbe =
  /** Nothing listens on the host port (QEMU forwards nothing there). */
  | { kind: "refused" }
  /** Connected, but nothing came back in time: the guest does not answer on port 22 yet. */
  | { kind: "silent" }
  /** Connected, then closed without a word: the guest is up and refuses port 22. */
  | { kind: "closed" }
  /** sshd's banner (`SSH-2.0-…`), made showable. */
  | { kind: "banner"; banner: string };

/** How long one look at the port waits for the banner (ms). */
const PROBE_MS = 3000;

/**
 * Connects to 127.0.0.1:`port` and reads what comes first, for at most
 * `timeoutMs`: sshd's banner, silence, or a close. Sends nothing.
 */
export async function probeSshPort(port: number, timeoutMs = PROBE_MS): Promise<PortProbe> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch (e) {
    if (e instanceof Deno.errors.ConnectionRefused) return { kind: "refused" };
    if (isStreamEnd(e)) return { kind: "closed" }; // accepted, and reset at once
    throw e;
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    closeQuietly(conn);
  }, Math.max(1, timeoutMs));
  const buf = new Uint8Array(256);
  let got = "";
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      got += new TextDecoder().decode(buf.subarray(0, n));
      if (got.includes("\n") || got.length >= 255) break;
    }
  } catch (e) {
    if (!isStreamEnd(e)) throw e; // reset by the guest, or closed by the timer
  } finally {
    clearTimeout(timer);
    closeQuietly(conn);
  }
  if (got !== "") return { kind: "banner", banner: showable(got.split("\n")[0] ?? "") };
  return timedOut ? { kind: "silent" } : { kind: "closed" };
}

/** How a wait for SSH went on: what the last look at the port found, ssh's last complaint. */
export interface SshSeen {
  probe?: PortProbe;
  /** ssh's last line when a login was tried and failed. */
  sshSaid?: string;
}

/** The wait for SSH ended unanswered (`seen` tells how far it got). */
export class SshWaitTimeout extends SystemError {
  constructor(message: string, readonly seen: SshSeen) {
    super(message);
  }
}

/** What {@link waitForSsh} hears and asks while it waits. */
export interface SshWaitOptions {
  /** Asked between attempts: false once QEMU has exited (the wait ends). */
  stillUp?: () => boolean;
  /** Hears what each look at the port, and each failed login, found. */
  onSeen?: (seen: SshSeen) => void;
  /** Runs between attempts; may throw to end the wait (e.g. the guest cannot boot). */
  between?: () => Promise<void>;
}

/**
 * Waits until `ssh` to the VM succeeds; returns the milliseconds waited.
 * Each round looks at the port first ({@link probeSshPort}) and logs in
 * only once sshd's banner came. Throws CheckFailedError at once when the
 * host key does not match the pinned one, SystemError when QEMU exits
 * first, SshWaitTimeout when SSH does not answer within `timeoutMs`.
 */
export async function waitForSsh(
  t: SshTarget,
  timeoutMs: number,
  opts: SshWaitOptions = {},
): Promise<number> {
  const t0 = performance.now();
  const left = () => timeoutMs - (performance.now() - t0);
  const seen: SshSeen = {};
  while (left() > 0) {
    seen.probe = await probeSshPort(t.port, Math.min(PROBE_MS, left()));
    opts.onSeen?.(seen);
    if (seen.probe.kind === "banner") {
      const r = await attempt(t);
      if (r.code === 0) return performance.now() - t0;
      seen.sshSaid = r.stderr.trim().split("\n").at(-1) ?? "";
      if (HOST_KEY_ERROR.test(r.stderr)) {
        throw new CheckFailedError(
          `VM "${t.name}" answers SSH with a host key that is not the one pinned in ` +
            `"${t.knownHosts}"; refusing it (${seen.sshSaid})`,
        );
      }
      opts.onSeen?.(seen);
    }
    if (opts.stillUp?.() === false) {
      throw new SystemError(`VM "${t.name}" stopped before SSH answered`);
    }
    await opts.between?.();
    await sleep(Math.min(RETRY_MS, Math.max(0, left())));
  }
  throw new SshWaitTimeout(
    `VM "${t.name}" did not answer SSH on 127.0.0.1:${t.port} within ${
      Math.round(timeoutMs / 1000)
    } s` + (seen.sshSaid ? ` (ssh: ${seen.sshSaid})` : ""),
    seen,
  );
}
