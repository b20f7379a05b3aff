/**
 * The terminal: raw mode for an interactive session, restored whatever
 * happens. Changes the terminal on standard input.
 * @module
 */

/**
 * Runs `work` with the terminal on `stdin` in raw mode (no echo, no line
 * editing, no signals from keys: Ctrl-C goes to the guest). The terminal is
 * restored whatever happens, also on SIGTERM and SIGHUP, which abort the
 * signal given to `work`.
 */
export async function withRawTerminal<T>(
  stdin: { setRaw(mode: boolean): void },
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const abort = new AbortController();
  const signals: Deno.Signal[] = ["SIGTERM", "SIGHUP"];
  const onSignal = () => abort.abort();
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  stdin.setRaw(true);
  try {
    return await work(abort.signal);
  } finally {
    stdin.setRaw(false);
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
  }
}
