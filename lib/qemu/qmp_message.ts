/**
 * The QMP wire format (also the QEMU guest agent's): one JSON object per
 * line. QEMU sends a greeting (`{"QMP": {...}}`), replies carrying the
 * command's `id` (`{"return": ...}` or `{"error": {"class", "desc"}}`) and
 * events (`{"event", "data", "timestamp"}`); the client sends
 * `{"execute", "arguments", "id"}`. Pure.
 * @module
 */

/** An asynchronous QMP event, e.g. `SHUTDOWN`, `POWERDOWN`, `STOP`, `RESUME`. */
export interface QmpEvent {
  /** The event name, e.g. `"SHUTDOWN"`. */
  event: string;
  /** The event's `data` member, when QEMU sent one. */
  data?: unknown;
  /** When QEMU emitted the event, by the host wall clock; absent when QEMU sent none. */
  timestamp?: { seconds: number; microseconds: number };
  /** When this client read the event, as `performance.now()`. */
  receivedAt: number;
}

/** One line from QEMU, decoded. */
export type QmpMessage =
  | { kind: "greeting"; value: unknown }
  | { kind: "event"; event: QmpEvent }
  | { kind: "reply"; id: number; value?: unknown; error?: string };

/** Returns `value` as a plain object, or undefined when it is not one. Pure. */
export function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
}

/** Parses JSON, or undefined when `text` is not JSON. Pure. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    if (e instanceof SyntaxError) return undefined;
    throw e;
  }
}

/**
 * Decodes one line QEMU sent; `now` (performance.now()) stamps events.
 * Undefined for a blank line, non-JSON, or a message of no known kind. Pure.
 */
export function parseQmpLine(line: string, now: number): QmpMessage | undefined {
  if (line.trim() === "") return undefined;
  const message = asObject(parseJson(line));
  if (message === undefined) return undefined;
  if ("QMP" in message) return { kind: "greeting", value: message.QMP };
  if (typeof message.event === "string") {
    const event: QmpEvent = { event: message.event, receivedAt: now };
    if ("data" in message) event.data = message.data;
    const ts = asObject(message.timestamp);
    if (ts && typeof ts.seconds === "number" && typeof ts.microseconds === "number") {
      event.timestamp = { seconds: ts.seconds, microseconds: ts.microseconds };
    }
    return { kind: "event", event };
  }
  if (typeof message.id !== "number") return undefined;
  const error = asObject(message.error);
  if (error === undefined) return { kind: "reply", id: message.id, value: message.return };
  const desc = typeof error.desc === "string" ? error.desc : JSON.stringify(message.error);
  return { kind: "reply", id: message.id, error: desc };
}

/** The line that runs `command` with `args` as request `id`. Pure. */
export function encodeCommand(
  command: string,
  args: Record<string, unknown> | undefined,
  id: number,
): string {
  const message: Record<string, unknown> = { execute: command, id };
  if (args !== undefined) message.arguments = args;
  return JSON.stringify(message) + "\n";
}
