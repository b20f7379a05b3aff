/**
 * Waiting until a VM answers SSH with its pinned host key: `ssh` runs
 * `true` in the guest (BatchMode, StrictHostKeyChecking=yes, the VM's
 * known_hosts) until it succeeds. While the guest boots the forward
 * refuses or drops the connection and we try again; a host key that does
 * not match the pinned one fails at once. Each attempt is bounded, and so
 * is the whole. Spawns `ssh`.
 * Level: vm.
 * @module
 */

import { CheckFailedError, SystemError } from "../errors.ts";
import { sleep } from "../os/poll.ts";
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

/**
 * Waits until `ssh` to the VM succeeds; returns the milliseconds waited.
 * Throws CheckFailedError at once when the host key does not match the
 * pinned one, SystemError when it does not answer within `timeoutMs`
 * (with ssh's last complaint). `stillUp` is asked between attempts: when
 * it returns false (QEMU exited) the wait ends with SystemError.
 */
export async function waitForSsh(
  t: SshTarget,
  timeoutMs: number,
  stillUp: () => boolean = () => true,
): Promise<number> {
  const t0 = performance.now();
  let last = "";
  while (performance.now() - t0 < timeoutMs) {
    const r = await attempt(t);
    if (r.code === 0) return performance.now() - t0;
    last = r.stderr.trim().split("\n").at(-1) ?? "";
    if (HOST_KEY_ERROR.test(r.stderr)) {
      throw new CheckFailedError(
        `VM "${t.name}" answers SSH with a host key that is not the one pinned in ` +
          `"${t.knownHosts}"; refusing it (${last})`,
      );
    }
    if (!stillUp()) throw new SystemError(`VM "${t.name}" stopped before SSH answered`);
    await sleep(RETRY_MS);
  }
  throw new SystemError(
    `VM "${t.name}" did not answer SSH on 127.0.0.1:${t.port} within ${
      Math.round(timeoutMs / 1000)
    } s` +
      (last === "" ? "" : ` (ssh: ${last})`) + `; see "vm log ${t.name}" or "vm console ${t.name}"`,
  );
}
