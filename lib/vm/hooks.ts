/**
 * A VM's `hooks`: a shell file, sourced by `sh`, that may define `pre_qemu`
 * (before QEMU; the variables it exports reach the templates and QEMU),
 * `post_qemu` (once QEMU answers on QMP; never delays QEMU) and `cleanup`
 * (after QEMU exited, with its exit code and signal). Hook output goes to our
 * stderr (the VM's log). Runs `sh` in the VM directory; reads `<vm>/hooks`.
 * @module
 */

import { F } from "./files.ts";
import { parseEnviron } from "../os/proc.ts";
import { SystemError } from "../errors.ts";
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

const HOOK_NAMES: readonly HookName[] = ["pre_qemu", "post_qemu", "cleanup"];
const DEFINED_VAR = "__VM_HOOKS_DEFINED";

// fd 3 is the real stdout, where the environment is written; the hooks'
// own stdout goes to stderr (the log).
const PRE_QEMU_SCRIPT = `exec 3>&1 1>&2
. ./${F.hooks} || { echo "vm: fatal: hooks: sourcing ./${F.hooks} failed (exit $?)"; exit 111; }
${DEFINED_VAR}=
for f in ${HOOK_NAMES.join(" ")}; do
  if type "$f" >/dev/null 2>&1; then ${DEFINED_VAR}="$${DEFINED_VAR} $f"; fi
done
export ${DEFINED_VAR}
if type pre_qemu >/dev/null 2>&1; then
  pre_qemu || { s=$?; echo "vm: fatal: hooks: pre_qemu failed (exit $s)"; exit 111; }
fi
exec env -0 >&3
`;

/**
 * Sources `hooks` in `sh` (cwd `vmDir`) with `env`, runs `pre_qemu` when
 * defined, and returns the environment it left and the functions defined.
 * Throws SystemError when sourcing or pre_qemu fails (its message is already
 * in the log).
 */
export async function runPreQemu(vmDir: string, env: Env): Promise<PreQemuResult> {
  const out = await new Deno.Command("/bin/sh", {
    args: ["-c", PRE_QEMU_SCRIPT],
    cwd: vmDir,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) {
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
 * session, and, if QEMU exits first, kills that session. It exits when
 * post_qemu is done or QEMU is gone, so it never outlives the VM.
 */
const POST_QEMU_SCRIPT = `. ./${F.hooks} || exit 111
qemu=$1
alive() { [ -e /proc/$1/stat ] && ! grep -q '^[0-9]* ([^)]*) Z' /proc/$1/stat 2>/dev/null; }
while [ ! -S ./${F.qmp} ]; do
  alive "$qemu" || exit 0
  sleep 0.1
done
setsid sh -c '. ./${F.hooks}; post_qemu' &
child=$!
while alive "$child"; do
  if ! alive "$qemu"; then
    kill -TERM -- "-$child" 2>/dev/null
    echo "vm: post_qemu stopped: QEMU exited"
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

/**
 * Runs `cleanup` from `hooks` when defined, with the exit code and signal of
 * QEMU as `$1`, `$2` and `VM_EXIT_CODE`, `VM_EXIT_SIGNAL`. Returns its exit code
 * (0 when not defined). Runs `sh` in `vmDir`.
 */
export async function runCleanup(
  vmDir: string,
  env: Env,
  code: string,
  signal: string,
): Promise<number> {
  const script = `exec 1>&2
. ./${F.hooks} || exit 111
if type cleanup >/dev/null 2>&1; then cleanup "$@"; fi`;
  const out = await new Deno.Command("/bin/sh", {
    args: ["-c", script, "vm-cleanup", code, signal],
    cwd: vmDir,
    env: { ...env, VM_EXIT_CODE: code, VM_EXIT_SIGNAL: signal },
    clearEnv: true,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return out.code;
}
