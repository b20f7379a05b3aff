/**
 * Test support: whether a QMP server answers (lib/qemu/qmp.ts's client
 * connects and negotiates). Not a test file.
 * @module
 */

import { SystemError } from "../../lib/errors.ts";
import { QmpClient } from "../../lib/qemu/qmp.ts";

/**
 * Returns whether QEMU answers on the QMP unix socket at `path` within
 * `timeoutMs`: connects, reads the greeting, negotiates capabilities and closes.
 * A failure to connect or to get the greeting means false.
 */
export async function qmpAnswers(path: string, timeoutMs: number): Promise<boolean> {
  try {
    const client = await QmpClient.connect(path, { timeoutMs });
    client.close();
    return true;
  } catch (e) {
    if (e instanceof SystemError) return false;
    throw e;
  }
}
