/**
 * A VM's `hooks`: a shell file, sourced by `sh`, that may define `pre_qemu`
 * (before QEMU; the variables it exports reach the templates and QEMU),
 * `post_qemu` (once QEMU answers on QMP; never delays QEMU) and `cleanup`
 * (after QEMU exited, with its exit code and signal). Hook output goes to our
 * stderr (the VM's log). Each hook runs in its own process group (its shell's
 * `$0` is `vm-hook-<name>`, which is how a stop finds it in /proc), within a
 * bound: pre_qemu and cleanup get the VM's wait, at least HOOK_MIN_S, then
 * the whole group gets TERM and, HOOK_GRACE_MS later, KILL; post_qemu's
 * group is ended the same way once QEMU has exited. A TERM, INT or HUP to vm
 * while pre_qemu or cleanup runs ends their group too. Runs `sh` in the VM
 * directory; reads `<vm>/hooks` (a symlink only within the VM directory).
 * @module
 */

import { F } from "../layout.ts";
import { parseEnviron } from "../os/proc.ts";
import { SystemError } from "../errors.ts";
import { checkInside } from "../os/fs.ts";
import { endGroup, groupAlive } from "../os/process_group.ts";
import type { Env } from "./config.ts";

/** Hook functions a hooks file may define. */
export type HookName = "pre_qemu" | "post_qemu" | "cleanup";

/** What sourcing the hooks file and running pre_qemu gave. */
export interface PreQemuResult {
  /** The environment pre_qemu left (exported variables). */
  env: Env;
  /** Which hook functions the file defines. */
  defined: Set<HookName>;
}

/** pre_qemu and cleanup may run for the VM's wait, but at least this long (seconds). */
export const HOOK_MIN_S = 10;
/** How long a hook's group gets between TERM and KILL. */
export const HOOK_GRACE_MS = 2000;
/** The `$0` of a hook's shell, followed by the hook's name. */
export const HOOK_ARGV0 = "vm-hook-";

const HOOK_NAMES: readonly HookName[] = ["pre_qemu", "post_qemu", "cleanup"];
const DEFINED_VAR = "__VM_HOOKS_DEFINED";

// fd 3 is the real stdout, where the environment is written; the hooks'
// own stdout goes to stderr (the log), and they never hold fd 3 (a process
// they leave running must not keep the pipe open).
const PRE_QEMU_SCRIPT = `exec 3>&1 1>&2
. ./${F.hooks} 3>&- || { echo "vm: fatal: hooks: sourcing ./${F.hooks} failed (exit $?)"; exit 111; }
${DEFINED_VAR}=
for f in ${HOOK_NAMES.join(" ")}; do
  if type "$f" >/dev/null 2>&1; then ${DEFINED_VAR}="$${DEFINED_VAR} $f"; fi
done
export ${DEFINED_VAR}
if type pre_qemu >/dev/null 2>&1; then
  pre_qemu 3>&- || { s=$?; echo "vm: fatal: hooks: pre_qemu failed (exit $s)"; exit 111; }
fi
exec env -0 >&3
`;

/** How a bounded hook ended. */
interface HookOutcome {
  code: number;
  stdout: Uint8Array;
  /** Set when vm ended the hook's group: its bound passed, or vm got this signal. */
  ended?: "bound" | Deno.Signal;
}

const STOP_SIGNALS: readonly Deno.Signal[] = ["SIGTERM", "SIGINT", "SIGHUP"];

/**
 * Runs `script` in `sh` (cwd `vmDir`, `$0` vm-hook-<hook>, then `args`) in a
 * process group of its own; past `boundS` seconds, or when vm gets TERM, INT
 * or HUP meanwhile, the group is ended (TERM, HOOK_GRACE_MS, KILL).
 */
async function runBounded(
  vmDir: string,
  hook: HookName,
  script: string,
  opts: { args?: string[]; env: Env; boundS: number; pipe: boolean },
): Promise<HookOutcome> {
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", script, HOOK_ARGV0 + hook, ...(opts.args ?? [])],
    cwd: vmDir,
    env: opts.env,
    clearEnv: true,
    stdin: "null",
    stdout: opts.pipe ? "piped" : "inherit",
    stderr: "inherit",
    detached: true, // setsid: its own session and process group
  }).spawn();
  const out = opts.pipe ? new Response(child.stdout).bytes() : Promise.resolve(new Uint8Array());
  let exited = false;
  let ended: HookOutcome["ended"];
  let ending: Promise<boolean> | undefined;
  // The group is gone once its shell is reaped and nothing else of it is left.
  const gone = () => exited && !groupAlive(child.pid);
  const end = (why: "bound" | Deno.Signal) => {
    ended ??= why;
    ending ??= endGroup(child.pid, HOOK_GRACE_MS, gone);
  };
  const timer = setTimeout(() => end("bound"), opts.boundS * 1000);
  const listeners = STOP_SIGNALS.map((sig) => [sig, () => end(sig)] as const);
  for (const [sig, fn] of listeners) Deno.addSignalListener(sig, fn);
  try {
    const status = await child.status;
    exited = true;
    if (ending !== undefined) await ending; // TERM, then KILL for what ignored it
    const stdout = await out;
    return ended === undefined
      ? { code: status.code, stdout }
      : { code: status.code, stdout, ended };
  } finally {
    clearTimeout(timer);
    for (const [sig, fn] of listeners) Deno.removeSignalListener(sig, fn);
  }
}

/** The message of a hook vm ended. Pure. */
export function endedMessage(hook: HookName, ended: "bound" | Deno.Signal, boundS: number): string {
  return ended === "bound"
    ? `${hook} did not finish within ${boundS} s (the VM's wait, at least ${HOOK_MIN_S} s); ` +
      `its processes were ended`
    : `${hook} was ended: vm got ${ended} (the VM is being stopped)`;
}

/**
 * Sources `hooks` in `sh` (cwd `vmDir`) with `env`, runs `pre_qemu` when
 * defined, within `boundS` seconds (see the module), and returns the
 * environment it left and the functions defined. Throws SystemError when
 * the hooks file is a symlink out of the VM directory, when sourcing or
 * pre_qemu fails (its message is already in the log) or was ended.
 */
export async function runPreQemu(vmDir: string, env: Env, boundS: number): Promise<PreQemuResult> {
  checkInside(vmDir, `${vmDir}/${F.hooks}`);
  const out = await runBounded(vmDir, "pre_qemu", PRE_QEMU_SCRIPT, { env, boundS, pipe: true });
  if (out.ended !== undefined) throw new SystemError(endedMessage("pre_qemu", out.ended, boundS));
  if (out.code !== 0) {
    throw new SystemError(
      `Hooks in "${vmDir}/${F.hooks}" failed (exit ${out.code}); see the lines above`,
    );
  }
  const newEnv = parseEnviron(new TextDecoder().decode(out.stdout));
  const defined = new Set(
    (newEnv[DEFINED_VAR] ?? "").split(" ").filter((n): n is HookName =>
      (HOOK_NAMES as readonly string[]).includes(n)
    ),
  );
  delete newEnv[DEFINED_VAR];
  delete newEnv._;
  return { env: newEnv, defined };
}

/**
 * The detached watcher that runs post_qemu: it waits until QEMU (`$1`, the
 * PID `vm __run` execs into) listens on QMP, runs post_qemu in its own
 * session and process group, and, if QEMU exits first, ends that group
 * (`kill -s TERM -- -PGID`, the form dash takes; KILL after the grace). It
 * exits when post_qemu is done or QEMU is gone, so it never outlives the VM.
 */
const POST_QEMU_SCRIPT = `. ./${F.hooks} || exit 111
qemu=$1
alive() { [ -e /proc/$1/stat ] && ! grep -q '^[0-9]* ([^)]*) Z' /proc/$1/stat 2>/dev/null; }
while [ ! -S ./${F.qmp} ]; do
  alive "$qemu" || exit 0
  sleep 0.1
done
setsid sh -c '. ./${F.hooks}; post_qemu' ${HOOK_ARGV0}post_qemu &
child=$!
while alive "$child"; do
  if ! alive "$qemu"; then
    kill -s TERM -- "-$child" 2>/dev/null
    kill -s CONT -- "-$child" 2>/dev/null
    echo "vm: post_qemu stopped: QEMU exited"
    n=0
    while kill -s 0 -- "-$child" 2>/dev/null && [ $n -lt ${HOOK_GRACE_MS / 100} ]; do
      sleep 0.1
      n=$((n + 1))
    done
    kill -s KILL -- "-$child" 2>/dev/null
    break
  fi
  sleep 0.2
done
wait "$child" 2>/dev/null
`;

/**
 * Starts the post_qemu watcher for QEMU-to-be `qemuPid` fully detached (its
 * parent exits at once, so it is never a zombie of QEMU). Runs `sh` in `vmDir`.
 */
export async function spawnPostQemu(vmDir: string, env: Env, qemuPid: number): Promise<void> {
  await new Deno.Command("/bin/sh", {
    args: ["-c", `sh -c "$0" vm-post-qemu "$1" </dev/null &`, POST_QEMU_SCRIPT, String(qemuPid)],
    cwd: vmDir,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
}

/** What the cleanup hook did. */
export interface CleanupResult {
  /** Its exit code (0 when not defined; 111 when vm ended it). */
  code: number;
  /** Why vm ended it, when it did (see endedMessage). */
  ended?: string;
}

/**
 * Runs `cleanup` from `hooks` when defined, with the exit code and signal of
 * QEMU as `$1`, `$2` and `VM_EXIT_CODE`, `VM_EXIT_SIGNAL`, within `boundS`
 * seconds (see the module). Runs `sh` in `vmDir`. Throws SystemError when the
 * hooks file is a symlink out of the VM directory.
 */
export async function runCleanup(
  vmDir: string,
  env: Env,
  code: string,
  signal: string,
  boundS: number,
): Promise<CleanupResult> {
  checkInside(vmDir, `${vmDir}/${F.hooks}`);
  const script = `exec 1>&2
. ./${F.hooks} || exit 111
if type cleanup >/dev/null 2>&1; then cleanup "$@"; fi`;
  const out = await runBounded(vmDir, "cleanup", script, {
    args: [code, signal],
    env: { ...env, VM_EXIT_CODE: code, VM_EXIT_SIGNAL: signal },
    boundS,
    pipe: false,
  });
  if (out.ended === undefined) return { code: out.code };
  return { code: 111, ended: endedMessage("cleanup", out.ended, boundS) };
}
