/**
 * Asking the user: one question per line of standard input, so piped answers
 * work (`printf '20G\n10\n' | vm make web`). The question goes to stdout,
 * with its default in brackets (`Disk image size for web? [20G] `); on a pipe
 * the answer is not echoed, so a newline follows it. A bad answer is said
 * and asked again on a terminal; on a pipe it ends the command (exit 100).
 * @module
 */

import { UsageError } from "../../lib/errors.ts";
import { LineReader } from "../../lib/os/line_reader.ts";
import { print, write } from "./output.ts";

let input: LineReader | undefined;

/** The next line of standard input (shared with the questions), or undefined at its end. */
export function nextLine(): Promise<string | undefined> {
  input ??= new LineReader(Deno.stdin);
  return input.readLine();
}

/** Asks `question` and returns the answer, trimmed; undefined at the end of input. */
async function askLine(question: string): Promise<string | undefined> {
  input ??= new LineReader(Deno.stdin);
  write(question);
  const answer = (await input.readLine())?.trim();
  if (!Deno.stdin.isTerminal() || answer === undefined) print();
  return answer;
}

/** The question as shown: `Disk image size for web? [20G] `. Pure. */
export function questionText(question: string, shownDefault: string): string {
  return `${question} [${shownDefault}] `;
}

/**
 * Asks `question`, showing `shownDefault`; returns the answer ("" takes the
 * default). The end of input (Ctrl-D, or piped answers that ran out) is not
 * an answer: throws UsageError, before anything was made (`what`).
 */
function askOrAbort(question: string, shownDefault: string, what: string): Promise<string> {
  return answerOrAbort(questionText(question, shownDefault), question, what);
}

/** Asks `text` as it is (it shows its default itself); the end of input aborts as askOrAbort. */
function askText(text: string, what: string): Promise<string> {
  return answerOrAbort(text, text.trim(), what);
}

/** The input ended before a question was answered: never asked again. */
class InputEndedError extends UsageError {}

/** Shows `text`, returns the answer; the end of input throws InputEndedError naming `question`. */
async function answerOrAbort(text: string, question: string, what: string): Promise<string> {
  const answer = await askLine(text);
  if (answer === undefined) {
    throw new InputEndedError(
      `Input ended before the question "${question}" was answered; ${what} (answer each ` +
        `question on its own line, an empty line takes the default, or use -y)`,
    );
  }
  return answer;
}

/**
 * Runs `attempt` (questions and the checks of their answers) until it
 * returns. On a terminal a bad answer (UsageError) is said and asked again;
 * on a pipe, or when the input ended, the error ends the command.
 */
export async function untilValid<T>(attempt: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await attempt();
    } catch (e) {
      if (!(e instanceof UsageError) || e instanceof InputEndedError) throw e;
      if (!Deno.stdin.isTerminal()) throw e;
      print(`${e.message}; try again`);
    }
  }
}

/**
 * Asks `question` (showing `shownDefault`) until `check` takes the answer
 * ("" is the default): see {@link untilValid}. The end of input aborts (`what`).
 */
export function askChecked<T>(
  question: string,
  shownDefault: string,
  what: string,
  check: (answer: string) => T,
): Promise<T> {
  return untilValid(async () => check(await askOrAbort(question, shownDefault, what)));
}

/**
 * Asks `text` as it is (it shows its default itself) until `check` takes
 * the answer: see {@link untilValid}. The end of input aborts (`what`).
 */
export function askTextChecked<T>(
  text: string,
  what: string,
  check: (answer: string) => T,
): Promise<T> {
  return untilValid(async () => check(await askText(text, what)));
}

/** The answer to a y/N question: y or yes, n, no or empty; anything else is a UsageError. Pure. */
export function yesNo(answer: string): boolean {
  if (/^y(es)?$/i.test(answer)) return true;
  if (/^(no?)?$/i.test(answer)) return false;
  throw new UsageError(`"${answer}" is neither yes nor no; answer y or n (empty: n)`);
}

/** Asks a yes/no `question` (`[y/N]` is added); true only for y or yes. */
export async function confirm(question: string): Promise<boolean> {
  return /^y(es)?$/i.test(await askLine(`${question} [y/N] `) ?? "");
}
