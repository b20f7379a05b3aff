/**
 * Running the system's GNU tar with its standard input or output streamed
 * through this process (to count bytes for progress, and to read from or
 * write to vm's own stdin/stdout). tar's error message, when it fails,
 * becomes a SystemError. Runs `tar`. Area lib/export, at the level of actions.
 * @module
 */

import { SystemError } from "../errors.ts";
import { InterruptedError } from "../images/download.ts";

/**
 * Pipes `from` into `to` (closing it at the end), calling `onProgress` with
 * the bytes so far; `signal` ends the piping at once (both ends aborted).
 */
export async function pipeCounted(
  from: ReadableStream<Uint8Array>,
  to: WritableStream<Uint8Array>,
  onProgress?: (done: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  let done = 0;
  const count = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, ctl) {
      done += chunk.length;
      onProgress?.(done);
      ctl.enqueue(chunk);
    },
  });
  await from.pipeThrough(count).pipeTo(to, signal ? { signal } : {});
}

/** What feeds tar's stdin and takes its stdout (each absent: null); `signal` ends tar. */
export interface TarStreams {
  stdin?: (w: WritableStream<Uint8Array>) => Promise<void>;
  stdout?: (r: ReadableStream<Uint8Array>) => Promise<void>;
  signal?: AbortSignal;
}

/** Sends TERM to `child`; one that has exited is fine. */
function end(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGTERM");
  } catch (e) {
    if (!(e instanceof TypeError)) throw e; // it has exited already
  }
}

/**
 * Runs `tar <args>`; throws SystemError with tar's message when it or a
 * stream fails, InterruptedError when `io.signal` aborts (tar is ended).
 */
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
  const onAbort = () => end(child);
  io.signal?.addEventListener("abort", onAbort);
  const streams = Promise.all([
    io.stdin ? io.stdin(child.stdin) : undefined,
    io.stdout ? io.stdout(child.stdout) : undefined,
  ]);
  let streamError: unknown;
  await streams.catch((e) => {
    streamError = e;
    end(child);
  });
  const status = await child.status;
  io.signal?.removeEventListener("abort", onAbort);
  if (io.signal?.aborted) throw new InterruptedError();
  const text = (await err).trim().split("\n").filter((l) => l !== "").at(-1);
  if (!status.success) {
    throw new SystemError(`tar failed: ${text?.replace(/^tar: /, "") ?? `exit ${status.code}`}`);
  }
  if (streamError !== undefined) {
    throw new SystemError(`Streaming the archive failed: ${(streamError as Error).message}`);
  }
}
