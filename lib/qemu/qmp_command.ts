/**
 * One QMP command on a VM's `supervise/qmp` socket, for `vm qmp`: the
 * arguments checked as a JSON object, the `return` value handed back.
 * Reads `<vm>/supervise/{qmp,status}` (and /proc, for a QEMU without runsv).
 * @module
 */

import { CheckFailedError, UsageError } from "../errors.ts";
import { F } from "../layout.ts";
import { QMP_DEFAULT_TIMEOUT_MS, QmpClient } from "./qmp.ts";
import { readStatus } from "../runit/status.ts";
import { orphanQemu } from "./processes.ts";
import { exists } from "../os/fs.ts";
import { join } from "../os/path.ts";

/**
 * Parses `vm qmp`'s JSON arguments: a JSON object, e.g. `{"device": "ide1-cd0"}`.
 * Pure; throws UsageError (exit 100) for anything else.
 */
export function parseQmpArguments(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UsageError(
      `QMP arguments ${JSON.stringify(text)} are not valid JSON (${(e as Error).message}); ` +
        `give an object, e.g. '{"device": "ide1-cd0"}'`,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError(
      `QMP arguments must be a JSON object, not ${JSON.stringify(text)}; ` +
        `e.g. '{"device": "ide1-cd0"}'`,
    );
  }
  return value as Record<string, unknown>;
}

/**
 * Runs QMP `command` with `args` on VM `name` (directory `dir`) and returns
 * its `return` value. Throws CheckFailedError (exit 1) when the VM is not
 * running or QEMU answers with an error (`QMP "<command>" failed: …`), and
 * SystemError when QEMU does not answer within `timeoutMs` (QEMU serves one
 * QMP client at a time: e.g. while `vm stop` waits for the guest).
 */
export async function runQmp(
  name: string,
  dir: string,
  command: string,
  args: Record<string, unknown> | undefined,
  timeoutMs: number = QMP_DEFAULT_TIMEOUT_MS,
): Promise<unknown> {
  // An orphan (a QEMU whose runsv was killed) still answers on its socket.
  const up = readStatus(dir)?.state === "run" || orphanQemu(dir) !== undefined;
  if (!exists(join(dir, F.qmp)) || !up) {
    throw new CheckFailedError(`VM "${name}" is not running; start it with "vm start ${name}"`);
  }
  const client = await QmpClient.connect(join(dir, F.qmp), { timeoutMs });
  try {
    return await client.execute(command, args, { timeoutMs });
  } finally {
    client.close();
  }
}
