/**
 * Asking the user: one question per line of standard input, so piped answers
 * work (`printf '20G\n10\n' | vm make web`). The question goes to stdout; on
 * a pipe the answer is not echoed, so a newline follows it.
 * @module
 */

import { LineReader } from "../lib/os/line_reader.ts";
import { print, write } from "./output.ts";

let input: LineReader | undefined;

/** Asks `question` and returns the answer, trimmed; undefined at the end of input. */
export async function askLine(question: string): Promise<string | undefined> {
  input ??= new LineReader(Deno.stdin);
  write(question);
  const answer = (await input.readLine())?.trim();
  if (!Deno.stdin.isTerminal()) print();
  return answer;
}

/** Asks `question`; an empty answer or the end of input is "". */
export async function ask(question: string): Promise<string> {
  return (await askLine(question)) ?? "";
}

/** Asks a yes/no `question` (`[y/N]` is added); true only for y or yes. */
export async function confirm(question: string): Promise<boolean> {
  return /^y(es)?$/i.test(await ask(`${question} [y/N] `));
}
