/**
 * Asking the user: one question per line of standard input, so piped answers
 * work (`printf '20G\n10\n' | vm make web`). The question goes to stdout,
 * with its default in brackets (`Disk image size for web? [20G] `); on a pipe
 * the answer is not echoed, so a newline follows it.
 * @module
 */

import { UsageError } from "../lib/errors.ts";
import { LineReader } from "../lib/os/line_reader.ts";
import { print, write } from "./output.ts";

let input: LineReader | undefined;

/** The next line of standard input (shared with the questions), or undefined at its end. */
export function nextLine(): Promise<string | undefined> {
  input ??= new LineReader(Deno.stdin);
  return input.readLine();
}

/** Asks `question` and returns the answer, trimmed; undefined at the end of input. */
export async function askLine(question: string): Promise<string | undefined> {
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
export function askOrAbort(question: string, shownDefault: string, what: string): Promise<string> {
  return answerOrAbort(questionText(question, shownDefault), question, what);
}

/** Asks `text` as it is (it shows its default itself); the end of input aborts as askOrAbort. */
export function askText(text: string, what: string): Promise<string> {
  return answerOrAbort(text, text.trim(), what);
}

/** Shows `text`, returns the answer; the end of input throws UsageError naming `question`. */
async function answerOrAbort(text: string, question: string, what: string): Promise<string> {
  const answer = await askLine(text);
  if (answer === undefined) {
    throw new UsageError(
      `Input ended before the question "${question}" was answered; ${what} (answer each ` +
        `question on its own line, an empty line takes the default, or use -y)`,
    );
  }
  return answer;
}

/** Asks a yes/no `question` (`[y/N]` is added); true only for y or yes. */
export async function confirm(question: string): Promise<boolean> {
  return /^y(es)?$/i.test(await askLine(`${question} [y/N] `) ?? "");
}
