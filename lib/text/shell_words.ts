/**
 * Splitting text into words the way a POSIX shell does, without ever executing
 * anything, and the inverse (quoting a word so it splits back unchanged).
 * Pure: no I/O. Used by the template parser and the config parser.
 *
 * Supported: blanks and newlines separate words; `'…'` is literal; `"…"`
 * expands `$VAR` and `${VAR}` and honours `\" \\ \$ \`` and backslash-newline;
 * outside quotes a backslash escapes the next character; `#` at the start of a
 * word starts a comment; `~` or `~/…` at the start of a word is `$HOME`;
 * unquoted expansions are split on blanks. Refused with `<file>:<line>`:
 * command substitution (`$(…)`, backticks), arithmetic, special parameters,
 * `${…}` forms other than a plain name, unquoted operators `; | & < > ( )`,
 * and unterminated quotes.
 * @module
 */

import { ParseError } from "../errors.ts";

/** One word of a command, with the line it started on. */
export interface Word {
  /** The word after quote removal and expansion (for an assignment: the value). */
  value: string;
  /** 1-based line where the word starts. */
  line: number;
  /** Set when the word is an assignment `NAME=value` (only with `assignments`). */
  name?: string;
  /**
   * Set (only with `keepVanished`) on a word that expanded to no field at
   * all (`$UNSET` unquoted): its text as written; `value` is then "".
   */
  vanished?: string;
}

/** How to split a text. */
export interface LexOptions {
  /** File name used in error messages. */
  file: string;
  /** Looks up a variable for `$NAME`; undefined expands to the empty string. */
  lookup: (name: string) => string | undefined;
  /** Recognise `NAME=value` words as assignments (their value is never field-split). */
  assignments?: boolean;
  /** Yield a word that expanded to nothing as a Word with `vanished` (else it is dropped). */
  keepVanished?: boolean;
}

const BLANK = new Set([" ", "\t", "\r"]);
const OPERATORS = new Set([";", "|", "&", "<", ">", "(", ")"]);
const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;
const ASSIGNMENT = /[A-Za-z_][A-Za-z0-9_]*=/y;
const SPECIAL_PARAMS = new Set([
  "@",
  "*",
  "#",
  "?",
  "-",
  "$",
  "!",
  "0",
  "1",
  "2",
  "3",
  "4",
  "5",
  "6",
  "7",
  "8",
  "9",
]);

/**
 * Splits `text` into commands (one per unquoted line) of words, lazily: a
 * command is lexed only when the consumer asks for it, so `lookup` may see
 * assignments the consumer applied from earlier commands.
 * Throws ParseError for every refused construct.
 */
export function* lexCommands(text: string, opts: LexOptions): Generator<Word[]> {
  const lx = new Lexer(text, opts);
  let words: Word[] = [];
  while (true) {
    lx.skipBlanks();
    const c = lx.peek();
    if (c === undefined) break;
    if (c === "\n") {
      lx.advance();
      if (words.length > 0) yield words;
      words = [];
    } else if (c === "#") {
      lx.skipComment();
    } else if (c === "\\" && lx.peek(1) === "\n") {
      lx.advance(2);
    } else {
      words.push(...lx.readWord());
    }
  }
  if (words.length > 0) yield words;
}

/** Splits `text` into a flat list of words (templates: newlines are just separators). */
export function splitWords(text: string, opts: LexOptions): string[] {
  const out: string[] = [];
  for (const cmd of lexCommands(text, opts)) {
    for (const w of cmd) out.push(w.value);
  }
  return out;
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes `word` so that `splitWords` (and a POSIX shell) gives back exactly `word`. */
export function quoteWord(word: string): string {
  if (SAFE_WORD.test(word)) return word;
  return "'" + word.replaceAll("'", `'\\''`) + "'";
}

/** Quotes every word and joins them with spaces. */
export function quoteWords(words: readonly string[]): string {
  return words.map(quoteWord).join(" ");
}

class Lexer {
  private pos = 0;
  private line = 1;
  // Fields of the word being read.
  private fields: string[] = [];
  private cur = "";
  private started = false;

  constructor(private readonly text: string, private readonly opts: LexOptions) {}

  peek(offset = 0): string | undefined {
    return this.text[this.pos + offset];
  }

  advance(n = 1): void {
    for (let i = 0; i < n; i++) {
      if (this.text[this.pos] === "\n") this.line++;
      this.pos++;
    }
  }

  skipBlanks(): void {
    while (BLANK.has(this.peek() ?? "")) this.advance();
  }

  skipComment(): void {
    while (this.peek() !== undefined && this.peek() !== "\n") this.advance();
  }

  private fail(line: number, why: string): never {
    throw new ParseError(this.opts.file, line, why);
  }

  private literal(s: string): void {
    this.cur += s;
    this.started = true;
  }

  /** Appends an expansion; unquoted ones are split into fields on blanks. */
  private expanded(value: string, split: boolean): void {
    if (!split) {
      this.cur += value;
      return;
    }
    const pieces = value.split(/[ \t\n]+/);
    pieces.forEach((piece, i) => {
      if (i > 0 && this.started) {
        this.fields.push(this.cur);
        this.cur = "";
        this.started = false;
      }
      if (piece !== "") this.literal(piece);
    });
  }

  /** Reads one word at the current position; returns its fields (0 or more). */
  readWord(): Word[] {
    const line = this.line;
    const start = this.pos;
    this.fields = [];
    this.cur = "";
    this.started = false;
    let name: string | undefined;
    let split = true;
    if (this.opts.assignments) {
      ASSIGNMENT.lastIndex = this.pos;
      const m = ASSIGNMENT.exec(this.text);
      if (m) {
        name = m[0].slice(0, -1);
        this.advance(m[0].length);
        split = false;
        this.started = true;
      }
    }
    this.tilde();
    while (true) {
      const c = this.peek();
      if (c === undefined || c === "\n" || BLANK.has(c)) break;
      if (OPERATORS.has(c)) {
        this.fail(this.line, `Unquoted "${c}" is not allowed; quote it ('${c}')`);
      }
      if (c === "'") this.singleQuoted();
      else if (c === '"') this.doubleQuoted();
      else if (c === "\\") {
        if (this.peek(1) === "\n") this.advance(2);
        else if (this.peek(1) === undefined) {
          this.advance();
          this.literal("\\");
        } else {
          this.literal(this.peek(1) ?? "");
          this.advance(2);
        }
      } else if (c === "`") {
        this.fail(
          this.line,
          "Command substitution (backquote) is not allowed; write the value itself",
        );
      } else if (c === "$") this.dollar(split);
      else {
        this.literal(c);
        this.advance();
      }
    }
    if (this.started) this.fields.push(this.cur);
    if (name !== undefined) return [{ value: this.fields[0] ?? "", line, name }];
    if (this.fields.length === 0 && this.opts.keepVanished) {
      return [{ value: "", line, vanished: this.text.slice(start, this.pos) }];
    }
    return this.fields.map((value) => ({ value, line }));
  }

  private tilde(): void {
    if (this.peek() !== "~") return;
    const next = this.peek(1);
    if (next === undefined || next === "/" || next === "\n" || BLANK.has(next)) {
      const home = this.opts.lookup("HOME");
      if (home === undefined) {
        this.fail(this.line, `"~" needs HOME to be set; write the path itself`);
      }
      this.advance();
      this.literal(home);
    }
  }

  private singleQuoted(): void {
    const start = this.line;
    this.advance();
    const end = this.text.indexOf("'", this.pos);
    if (end < 0) this.fail(start, "Unterminated single quote; add the closing '");
    this.literal(this.text.slice(this.pos, end));
    this.advance(end - this.pos + 1);
  }

  private doubleQuoted(): void {
    const start = this.line;
    this.advance();
    this.started = true;
    while (true) {
      const c = this.peek();
      if (c === undefined) this.fail(start, 'Unterminated double quote; add the closing "');
      if (c === '"') {
        this.advance();
        return;
      }
      if (c === "\\") {
        const n = this.peek(1);
        if (n === "\n") this.advance(2);
        else if (n === "$" || n === "`" || n === '"' || n === "\\") {
          this.cur += n;
          this.advance(2);
        } else {
          this.cur += "\\";
          this.advance();
        }
      } else if (c === "`") {
        this.fail(
          this.line,
          "Command substitution (backquote) is not allowed; write the value itself",
        );
      } else if (c === "$") {
        this.dollar(false);
      } else {
        this.cur += c;
        this.advance();
      }
    }
  }

  /** Handles `$` at the current position. */
  private dollar(split: boolean): void {
    const line = this.line;
    const n = this.peek(1);
    if (n === "(") {
      const what = this.peek(2) === "(" ? "Arithmetic expansion" : "Command substitution";
      this.fail(line, `${what} "$(…)" is not allowed; write the value itself`);
    }
    if (n === "{") {
      const end = this.text.indexOf("}", this.pos);
      if (end < 0) this.fail(line, 'Unterminated "${"; add the closing }');
      const inner = this.text.slice(this.pos + 2, end);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(inner)) {
        this.fail(line, `"\${${inner}}" is not supported; only $NAME and \${NAME} are`);
      }
      this.advance(end - this.pos + 1);
      this.expanded(this.opts.lookup(inner) ?? "", split);
      return;
    }
    if (n !== undefined && NAME_START.test(n)) {
      let end = this.pos + 1;
      while (end < this.text.length && NAME_CHAR.test(this.text[end] ?? "")) end++;
      const name = this.text.slice(this.pos + 1, end);
      this.advance(end - this.pos);
      this.expanded(this.opts.lookup(name) ?? "", split);
      return;
    }
    if (n !== undefined && SPECIAL_PARAMS.has(n)) {
      this.fail(line, `Special parameter "$${n}" is not supported; only $NAME and \${NAME} are`);
    }
    this.advance();
    if (split) this.literal("$");
    else this.cur += "$";
  }
}
