/**
 * Running the system's GNU tar with its standard input or output streamed
 * through this process (to count bytes for progress, and to read from or
 * write to vm's own stdin/stdout). tar's error message, when it fails,
 * becomes a SystemError. Runs `tar`. Area lib/export, at the level of actions.
 * @module
 */

import { SystemError } from "../errors.ts";

/** Pipes `from` into `to` (closing it at the end), calling `onProgress` with the bytes so far. */
export async function pipeCounted(
  from: ReadableStream<Uint8Array>,
  to: WritableStream<Uint8Array>,
  onProgress?: (done: number) => void,
): Promise<void> {
  let done = 0;
  const count = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, ctl) {
      done += chunk.length;
      onProgress?.(done);
      ctl.enqueue(chunk);
    },
  });
  await from.pipeThrough(count).pipeTo(to);
}

/** What feeds tar's stdin and takes its stdout (each absent: null). */
export interface TarStreams {
  stdin?: (w: WritableStream<Uint8Array>) => Promise<void>;
  stdout?: (r: ReadableStream<Uint8Array>) => Promise<void>;
}

/** Runs `tar <args>`; throws SystemError with tar's message when it or a stream fails. */
export async function runTar(args: readonly string[], io: TarStreams): Promise<void> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("tar", {
      args: [...args],
      stdin: io.stdin ? "piped" : "null",
      stdout: io.stdout ? "piped" : "null",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new SystemError('"tar" is not installed; install the "tar" package (GNU tar)');
    }
    throw e;
  }
  const err = new Response(child.stderr).text();
  const streams = Promise.all([
    io.stdin ? io.stdin(child.stdin) : undefined,
    io.stdout ? io.stdout(child.stdout) : undefined,
  ]);
  let streamError: unknown;
  await streams.catch((e) => {
    streamError = e;
    try {
      child.kill("SIGTERM");
    } catch { /* already exited */ }
  });
  const status = await child.status;
  const text = (await err).trim().split("\n").filter((l) => l !== "").at(-1);
  if (!status.success) {
    throw new SystemError(`tar failed: ${text?.replace(/^tar: /, "") ?? `exit ${status.code}`}`);
  }
  if (streamError !== undefined) {
    throw new SystemError(`Streaming the archive failed: ${(streamError as Error).message}`);
  }
}
