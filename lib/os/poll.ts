/**
 * Waiting: a sleep, and polling a condition until it holds or time runs out
 * (runit has no notifications: its state is files and processes). Pure but
 * for the timers.
 * @module
 */

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Checks `pred` every `everyMs` until it holds; returns whether it did
 * within `ms` (it is checked once more at the end).
 */
export async function pollUntil(pred: () => boolean, ms: number, everyMs = 50): Promise<boolean> {
  const end = performance.now() + ms;
  while (!pred()) {
    if (performance.now() >= end) return false;
    await sleep(everyMs);
  }
  return true;
}

/**
 * Resolves or rejects as `promise` does, or rejects with `onTimeout()` after `ms`
 * milliseconds; the timer is always cleared.
 */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  onTimeout: () => Error,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), Math.max(0, ms));
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
