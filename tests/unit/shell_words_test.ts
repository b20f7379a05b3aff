/**
 * Unit tests of lib/shell_words.ts: POSIX-shell word splitting (never
 * executing anything), its refusals with `<file>:<line>`, and quoteWord, the
 * inverse of splitting — checked against splitWords and against a real /bin/sh.
 */

import assert from "node:assert/strict";
import {
  lexCommands,
  quoteWord,
  quoteWords,
  splitWords,
  type Word,
} from "../../lib/text/shell_words.ts";
import { parseFails } from "../support/fails.ts";
import { isFile } from "../support/files.ts";
import { skippable } from "../support/skip.ts";

type Vars = Record<string, string>;

/** Variables the tests expand. */
const ENV: Vars = {
  HOME: "/home/tester",
  V: "a  b",
  E: "",
  S: " x ",
  T: "\t",
  N: "l1\nl2",
  Q: `'"\\$`,
  W: "one",
  Vx: "VX",
};

function lookupIn(env: Vars): (name: string) => string | undefined {
  return (name) => (Object.hasOwn(env, name) ? env[name] : undefined);
}

function split(text: string, env: Vars = ENV): string[] {
  return splitWords(text, { file: "t", lookup: lookupIn(env) });
}

function splitFails(text: string, line: number): string {
  return parseFails(() => split(text), "t", line);
}

// ---------------------------------------------------------------------------
// Separators

Deno.test("splitWords: spaces, tabs and newlines separate words", () => {
  assert.deepEqual(split("a b\tc\nd  \t e\n\n\nf"), ["a", "b", "c", "d", "e", "f"]);
});

Deno.test("splitWords: empty text, blanks only and comments only give no words", () => {
  assert.deepEqual(split(""), []);
  assert.deepEqual(split("   \t\n\n  "), []);
  assert.deepEqual(split("# a comment\n   # another one\n"), []);
});

Deno.test("splitWords: leading and trailing blanks are ignored", () => {
  assert.deepEqual(split("   -m 2G   \n"), ["-m", "2G"]);
});

Deno.test("splitWords: CRLF line ends separate words like LF", () => {
  assert.deepEqual(split("-m 2G\r\n-enable-kvm\r\n"), ["-m", "2G", "-enable-kvm"]);
});

// ---------------------------------------------------------------------------
// Single quotes

Deno.test("splitWords: single quotes are literal ($, double quotes, backslashes, #, ~)", () => {
  assert.deepEqual(split(`'$V \${V} "x" \\ \\n # ~ \`ls\` $(ls)'`), [
    `$V \${V} "x" \\ \\n # ~ \`ls\` $(ls)`,
  ]);
});

Deno.test("splitWords: single quotes keep blanks and newlines in one word", () => {
  assert.deepEqual(split("'a  b\n\tc'"), ["a  b\n\tc"]);
});

Deno.test("splitWords: '' is one empty word", () => {
  assert.deepEqual(split("''"), [""]);
  assert.deepEqual(split("a '' b"), ["a", "", "b"]);
});

Deno.test("splitWords: quoted and unquoted parts concatenate into one word", () => {
  assert.deepEqual(split(`a'b c'"d e"f`), ["ab cd ef"]);
  assert.deepEqual(split(`'it'\\''s'`), ["it's"]);
});

// ---------------------------------------------------------------------------
// Double quotes

Deno.test("splitWords: double quotes keep blanks and expand $VAR and ${VAR}", () => {
  assert.deepEqual(split(`"$W \${W}  $V"`), ["one one  a  b"]);
});

Deno.test('splitWords: in double quotes \\" \\\\ \\$ and \\` are escapes', () => {
  assert.deepEqual(split(`"\\"\\\\\\$W\\\`"`), ['"\\$W`']);
});

Deno.test("splitWords: in double quotes other backslashes are kept", () => {
  assert.deepEqual(split(`"\\a\\n\\'\\#"`), ["\\a\\n\\'\\#"]);
});

Deno.test("splitWords: in double quotes backslash-newline is removed", () => {
  assert.deepEqual(split(`"ab\\\ncd"`), ["abcd"]);
});

Deno.test("splitWords: double quotes keep newlines, single quotes and # literally", () => {
  assert.deepEqual(split(`"a\n'b' #c"`), ["a\n'b' #c"]);
});

Deno.test('splitWords: "" is one empty word, also next to an empty expansion', () => {
  assert.deepEqual(split(`""`), [""]);
  assert.deepEqual(split(`"$E"`), [""]);
  assert.deepEqual(split(`$E""`), [""]);
  assert.deepEqual(split(`""$E`), [""]);
  assert.deepEqual(split(`"$UNSET"`), [""]);
});

Deno.test("splitWords: a lone $ or a $ before a non-name is literal", () => {
  assert.deepEqual(split(`$ a$ "$" "a$" $% $/x $=`), ["$", "a$", "$", "a$", "$%", "$/x", "$="]);
});

// ---------------------------------------------------------------------------
// Backslash outside quotes

Deno.test("splitWords: an unquoted backslash escapes the next character", () => {
  assert.deepEqual(split(`a\\ b \\'x\\' \\"y\\" \\\\ \\$W \\# \\a \\;`), [
    "a b",
    "'x'",
    '"y"',
    "\\",
    "$W",
    "#",
    "a",
    ";",
  ]);
});

Deno.test("splitWords: backslash-newline continues a word and joins lines", () => {
  assert.deepEqual(split("ab\\\ncd"), ["abcd"]);
  assert.deepEqual(split("a \\\n b"), ["a", "b"]);
});

Deno.test("splitWords: a backslash at the very end of the text is kept", () => {
  assert.deepEqual(split("x\\"), ["x\\"]);
});

// ---------------------------------------------------------------------------
// Comments

Deno.test("splitWords: # at the start of a word starts a comment to the end of the line", () => {
  assert.deepEqual(split("-m 2G # the memory $(not run)\n-enable-kvm #x"), [
    "-m",
    "2G",
    "-enable-kvm",
  ]);
});

Deno.test("splitWords: # inside a word, quoted or escaped is literal", () => {
  assert.deepEqual(split(`a#b '#c' "#d" \\#e $E#f`), ["a#b", "#c", "#d", "#e", "#f"]);
});

Deno.test("splitWords: a comment line in the middle keeps the words around it", () => {
  assert.deepEqual(split("a\n# b c\nd"), ["a", "d"]);
});

// ---------------------------------------------------------------------------
// Expansion

Deno.test("splitWords: $VAR and ${VAR} expand; unset variables expand to nothing", () => {
  assert.deepEqual(split("$W ${W} x${W}y $UNSET"), ["one", "one", "xoney"]);
});

Deno.test("splitWords: a name is as long as possible ($Vx is not $V followed by x)", () => {
  assert.deepEqual(split("$Vx ${V}x $W-x"), ["VX", "a", "bx", "one-x"]);
});

Deno.test("splitWords: unquoted expansions are split into fields on blanks", () => {
  assert.deepEqual(split("$V"), ["a", "b"]);
  assert.deepEqual(split("$N"), ["l1", "l2"]);
  assert.deepEqual(split("x${V}y"), ["xa", "by"]);
  assert.deepEqual(split(`$V""`), ["a", "b"]);
});

Deno.test("splitWords: leading and trailing blanks of an unquoted expansion split the word", () => {
  assert.deepEqual(split("$S"), ["x"]);
  assert.deepEqual(split(`a$S"b"`), ["a", "x", "b"]);
  assert.deepEqual(split(`a$T"b"`), ["a", "b"]);
});

Deno.test("splitWords: quoted expansions are not split", () => {
  assert.deepEqual(split(`"$V" "$S" "$N"`), ["a  b", " x ", "l1\nl2"]);
});

Deno.test("splitWords: an unquoted empty or blank expansion alone yields no word", () => {
  assert.deepEqual(split("$E"), []);
  assert.deepEqual(split("$E $UNSET ${E}"), []);
  assert.deepEqual(split("$T"), []);
  assert.deepEqual(split("a $E b"), ["a", "b"]);
  assert.deepEqual(split("a$E"), ["a"]);
});

Deno.test("splitWords: expanded values are not re-parsed (quotes, $, backslashes stay)", () => {
  assert.deepEqual(split(`$Q "$Q"`), [`'"\\$`, `'"\\$`]);
});

Deno.test("splitWords: ~ and ~/ at the start of a word are $HOME, elsewhere literal", () => {
  assert.deepEqual(split("~ ~/x a~ '~' \\~ ~user"), [
    "/home/tester",
    "/home/tester/x",
    "a~",
    "~",
    "~",
    "~user",
  ]);
});

Deno.test("splitWords: ~ without HOME is refused", () => {
  const msg = parseFails(() => split("a\n~/x", {}), "t", 2);
  assert.match(msg, /HOME/);
});

Deno.test("splitWords: the spec's example -drive with a quoted path is two words", () => {
  assert.deepEqual(split(`-drive file="/my vms/disk one.qcow2"`), [
    "-drive",
    "file=/my vms/disk one.qcow2",
  ]);
});

// ---------------------------------------------------------------------------
// Refusals, with line numbers

Deno.test("splitWords: $(…) is refused with its line number", () => {
  assert.equal(
    splitFails("-m 2G\n-enable-kvm\n-name $(hostname)\n", 3),
    `t:3: Command substitution "$(…)" is not allowed; write the value itself`,
  );
  splitFails("$(ls)", 1);
  splitFails("a\nb\nx$(ls)y", 3);
});

Deno.test("splitWords: $(…) in double quotes is refused with the line of the $", () => {
  splitFails(`"a\n\n$(x)"`, 3);
  splitFails(`one\n"two\nthree $(x)"`, 3);
});

Deno.test("splitWords: $((…)) arithmetic is refused", () => {
  const msg = splitFails("a\n$((1+1))", 2);
  assert.match(msg, /^t:2: Arithmetic expansion/);
});

Deno.test("splitWords: backticks are refused, unquoted and in double quotes, with line", () => {
  assert.equal(
    splitFails("a\nb\n`x`", 3),
    "t:3: Command substitution (backquote) is not allowed; write the value itself",
  );
  splitFails('a\n"b\n`x`"', 3);
  splitFails("x`y", 1);
});

Deno.test("splitWords: line numbers count newlines in quotes, comments and continuations", () => {
  splitFails("'a\nb\nc'\n$(x)", 4);
  splitFails("a \\\nb \\\n$(x)", 3);
  splitFails("# c1\n# c2 'x\n\n`x`", 4);
  splitFails(`"$V\n"\n\${V\n}`, 3);
});

Deno.test("splitWords: quoted or escaped $( and backticks are literal, not refused", () => {
  const literal = ["$(ls)", "$(ls)", "$(ls)", "`x`", "`x`", "`x`"];
  assert.deepEqual(split("'$(ls)' \\$\\(ls\\) \"\\$(ls)\" '`x`' \\`x\\` \"\\`x\\`\""), literal);
});

Deno.test("splitWords: ${…} other than a plain name is refused", () => {
  for (const text of ["${V-x}", "${V:-x}", "${#V}", "${V%x}", "${}", "${1}", "${V x}", "${!V}"]) {
    const msg = splitFails(`ok\n${text}`, 2);
    assert.match(msg, /only \$NAME and \$\{NAME\} are/, text);
  }
});

Deno.test("splitWords: an unterminated ${ is refused", () => {
  assert.equal(splitFails("a\n${V", 2), `t:2: Unterminated "\${"; add the closing }`);
});

Deno.test("splitWords: special parameters are refused", () => {
  for (const p of ["@", "*", "#", "?", "-", "$", "!", "0", "1", "9"]) {
    const msg = splitFails(`a\nb\n"$${p}"`, 3);
    assert.equal(
      msg,
      `t:3: Special parameter "$${p}" is not supported; only $NAME and \${NAME} are`,
    );
    splitFails(`$${p}`, 1);
  }
});

Deno.test("splitWords: unquoted operators ; | & < > ( ) are refused", () => {
  for (const op of [";", "|", "&", "<", ">", "(", ")"]) {
    assert.equal(
      splitFails(`a\nb${op}c`, 2),
      `t:2: Unquoted "${op}" is not allowed; quote it ('${op}')`,
    );
    splitFails(`${op}`, 1);
  }
  splitFails("if true; then x; fi", 1);
  splitFails("f() { x; }", 1);
  splitFails("a && b", 1);
  splitFails("a >out", 1);
});

Deno.test("splitWords: quoted operators are literal", () => {
  assert.deepEqual(split(`';|&<>()' ";|&<>()" \\;\\|\\&\\<\\>\\(\\)`), [
    ";|&<>()",
    ";|&<>()",
    ";|&<>()",
  ]);
});

Deno.test("splitWords: an unterminated quote is refused at the line it starts", () => {
  assert.equal(splitFails("a\nb 'c\nd\n", 2), "t:2: Unterminated single quote; add the closing '");
  assert.equal(splitFails('a\n\n"c\nd\n', 3), 't:3: Unterminated double quote; add the closing "');
  splitFails('"abc\\"', 1);
});

Deno.test("splitWords: the file name given is the one in the message", () => {
  parseFails(
    () => splitWords("x\n$(y)", { file: "templates/mem", lookup: () => undefined }),
    "templates/mem",
    2,
  );
});

// ---------------------------------------------------------------------------
// lexCommands

function lexAll(text: string, env: Vars = ENV, assignments = false): Word[][] {
  return [...lexCommands(text, { file: "t", lookup: lookupIn(env), assignments })];
}

Deno.test("lexCommands: one command per unquoted line, each word with its start line", () => {
  assert.deepEqual(lexAll("a b\n\n# c\nd 'e\nf' g\n"), [
    [{ value: "a", line: 1 }, { value: "b", line: 1 }],
    [{ value: "d", line: 4 }, { value: "e\nf", line: 4 }, { value: "g", line: 5 }],
  ]);
});

Deno.test("lexCommands: backslash-newline continues a command on the next line", () => {
  assert.deepEqual(lexAll("a \\\nb\nc"), [
    [{ value: "a", line: 1 }, { value: "b", line: 2 }],
    [{ value: "c", line: 3 }],
  ]);
});

Deno.test("lexCommands: with assignments, NAME=value words carry name and unsplit value", () => {
  assert.deepEqual(lexAll("A=$V\nexport B='x y' C\nD=\n1X=y", ENV, true), [
    [{ value: "a  b", line: 1, name: "A" }],
    [
      { value: "export", line: 2 },
      { value: "x y", line: 2, name: "B" },
      { value: "C", line: 2 },
    ],
    [{ value: "", line: 3, name: "D" }],
    [{ value: "1X=y", line: 4 }],
  ]);
});

Deno.test("lexCommands: without assignments NAME=value is a plain word", () => {
  assert.deepEqual(lexAll("A=$V"), [[{ value: "A=a", line: 1 }, { value: "b", line: 1 }]]);
});

Deno.test("lexCommands: lazily lexed, so lookup sees what earlier commands set", () => {
  const vars: Vars = {};
  const seen: string[] = [];
  for (
    const cmd of lexCommands("A=1\nB=$A-2\nC=${B}3", {
      file: "t",
      lookup: lookupIn(vars),
      assignments: true,
    })
  ) {
    for (const w of cmd) {
      if (w.name !== undefined) vars[w.name] = w.value;
      seen.push(w.value);
    }
  }
  assert.deepEqual(seen, ["1", "1-2", "1-23"]);
});

// ---------------------------------------------------------------------------
// quoteWord / quoteWords

Deno.test("quoteWord: plain words are left as they are", () => {
  for (const w of ["a", "-m", "2G", "file=./drive.qcow2", "user@host:/a/b,c+d%e", "A_b-9."]) {
    assert.equal(quoteWord(w), w);
  }
});

Deno.test("quoteWord: other words are single-quoted, ' as '\\''", () => {
  assert.equal(quoteWord(""), "''");
  assert.equal(quoteWord("a b"), "'a b'");
  assert.equal(quoteWord("it's"), `'it'\\''s'`);
  assert.equal(quoteWord("~"), "'~'");
  assert.equal(quoteWord("#x"), "'#x'");
  assert.equal(quoteWord("$HOME"), "'$HOME'");
});

Deno.test("quoteWords: quotes each word and joins them with spaces", () => {
  assert.equal(
    quoteWords(["-drive", "file=/my vms/d.qcow2", ""]),
    "-drive 'file=/my vms/d.qcow2' ''",
  );
  assert.equal(quoteWords([]), "");
});

/** Strings that are hard to quote. */
const TRICKY: readonly string[] = [
  "",
  " ",
  "  ",
  "\t",
  "\n",
  "\r",
  "\r\n",
  "a b",
  " leading",
  "trailing ",
  "'",
  "''",
  "'''",
  '"',
  '""',
  "\\",
  "\\\\",
  "\\n",
  "a\\",
  "\\\n",
  "$",
  "$HOME",
  "${HOME}",
  "$(ls)",
  "$((1+1))",
  "`ls`",
  "$1",
  "$@",
  "#",
  "#comment",
  "a #b",
  "~",
  "~/x",
  "~root",
  "a=~",
  "*",
  "?",
  "[a]",
  "{a,b}",
  "!",
  "!!",
  ";",
  "a;b",
  "|",
  "&",
  "&&",
  "<",
  ">",
  "(",
  ")",
  "=",
  "A=b",
  "-",
  "--",
  "%",
  "a'b\"c\\d$e`f",
  `'"'"'`,
  'it\'s "quoted" \\ $HOME ~ #',
  "line1\nline2\n",
  "\n\n",
  "é",
  "日本語 テキスト",
  "emoji 😀 🎉",
  "\u00a0",
  "\u2028",
  "\x01\x07\x1b[31m",
  "\x7f",
  "-drive file=/my vms/disk one.qcow2",
];

Deno.test("quoteWord: splitWords gives back exactly the word, for tricky strings", () => {
  for (const s of TRICKY) {
    assert.deepEqual(split(quoteWord(s)), [s], `word ${JSON.stringify(s)}`);
    // Also when the environment is different: nothing may be expanded.
    assert.deepEqual(split(quoteWord(s), {}), [s], `word ${JSON.stringify(s)} (no HOME)`);
  }
});

Deno.test("quoteWord: round trip also holds for NUL and lone surrogates", () => {
  for (const s of ["\0", "a\0b", "\uD800", "x\uDC00y"]) {
    assert.deepEqual(split(quoteWord(s)), [s], JSON.stringify(s));
  }
});

Deno.test("quoteWords: splitWords gives back exactly the list of tricky strings", () => {
  assert.deepEqual(split(quoteWords(TRICKY)), [...TRICKY]);
});

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES: readonly string[] = [
  " ",
  "\t",
  "\n",
  "\r",
  "'",
  '"',
  "\\",
  "$",
  "`",
  "#",
  "~",
  "{",
  "}",
  "(",
  ")",
  ";",
  "|",
  "&",
  "<",
  ">",
  "*",
  "?",
  "[",
  "]",
  "=",
  "!",
  "%",
  "@",
  ":",
  ",",
  ".",
  "/",
  "-",
  "_",
  "+",
  "a",
  "Z",
  "0",
  "9",
  "é",
  "日",
  "😀",
  "\u00a0",
  "\x01",
  "${HOME}",
  "$(",
  "'\\''",
];

function randomWord(next: () => number, pieces: readonly string[] = PIECES): string {
  const len = Math.floor(next() * 12);
  let s = "";
  for (let i = 0; i < len; i++) s += pieces[Math.floor(next() * pieces.length)] ?? "";
  return s;
}

function randomWords(seed: number, count: number): string[] {
  const next = rng(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(randomWord(next));
  return out;
}

Deno.test("quoteWord: round trip over 3000 seeded random strings", () => {
  const words = randomWords(20240611, 3000);
  // The generator is deterministic: same seed, same strings.
  assert.deepEqual(randomWords(20240611, 5), words.slice(0, 5));
  for (const s of words) {
    assert.deepEqual(split(quoteWord(s)), [s], `word ${JSON.stringify(s)}`);
  }
});

Deno.test("quoteWords: round trip over 300 seeded random lists", () => {
  const next = rng(7);
  for (let i = 0; i < 300; i++) {
    const n = Math.floor(next() * 6);
    const list: string[] = [];
    for (let j = 0; j < n; j++) list.push(randomWord(next));
    assert.deepEqual(split(quoteWords(list)), list, `list ${JSON.stringify(list)}`);
  }
});

// ---------------------------------------------------------------------------
// Against a real POSIX shell

const SH = "/bin/sh";
const haveSh = isFile(SH);

/**
 * Runs `/bin/sh` on `lines` (each is the text after `set -- `) and returns,
 * for each, the arguments the shell got.
 */
async function shellArgs(lines: readonly string[], env: Vars = {}): Promise<string[][]> {
  const script = "set -f\n" +
    lines.map((l) => `set -- ${l}\nprintf '%s\\0' "$#" "$@"\n`).join("");
  const out = await new Deno.Command(SH, {
    args: ["-c", script],
    env: { ...env, LC_ALL: "C.UTF-8" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const fields = new TextDecoder().decode(out.stdout).split("\0");
  assert.equal(fields.pop(), "");
  const result: string[][] = [];
  let i = 0;
  while (i < fields.length) {
    const n = Number(fields[i]);
    result.push(fields.slice(i + 1, i + 1 + n));
    i += 1 + n;
  }
  assert.equal(result.length, lines.length);
  return result;
}

Deno.test({
  ...skippable(
    "quoteWord: /bin/sh gives back exactly each tricky string",
    !haveSh ? "no /bin/sh" : undefined,
  ),
  fn: async () => {
    const words = TRICKY.filter((s) => !s.includes("\0"));
    const got = await shellArgs(words.map(quoteWord), { HOME: "/home/tester", V: "a  b" });
    words.forEach((s, i) => assert.deepEqual(got[i], [s], `word ${JSON.stringify(s)}`));
  },
});

Deno.test({
  ...skippable(
    "quoteWord: /bin/sh gives back exactly 500 seeded random strings",
    !haveSh ? "no /bin/sh" : undefined,
  ),
  fn: async () => {
    const words = randomWords(99, 500);
    const got = await shellArgs(words.map(quoteWord), { HOME: "/home/tester" });
    words.forEach((s, i) => assert.deepEqual(got[i], [s], `word ${JSON.stringify(s)}`));
  },
});

Deno.test({
  ...skippable(
    "quoteWords: /bin/sh gives back exactly the whole list",
    !haveSh ? "no /bin/sh" : undefined,
  ),
  fn: async () => {
    const list = [...TRICKY.filter((s) => !s.includes("\0")), ...randomWords(3, 50)];
    const [got] = await shellArgs([quoteWords(list)]);
    assert.deepEqual(got, list);
  },
});

Deno.test({
  ...skippable(
    "splitWords: agrees with /bin/sh on quoting, escapes, comments and field splitting",
    !haveSh ? "no /bin/sh" : undefined,
  ),
  fn: async () => {
    // Texts a shell reads as the arguments of one command (no unquoted newline).
    const texts = [
      `a b\tc`,
      `'a  b'c"d e"`,
      `'it'\\''s'`,
      `"$W \${W}  $V"`,
      `"\\"\\\\\\$W\\\`"`,
      `"\\a\\n\\'\\#"`,
      `"ab\\\ncd"`,
      `"a\n'b' #c"`,
      `"" "$E" $E"" ""$E "$UNSET"`,
      `$ a$ "$" "a$" $% $/x $=`,
      `a\\ b \\'x\\' \\"y\\" \\\\ \\$W \\# \\a \\;`,
      "ab\\\ncd a \\\n b",
      `-m 2G # comment $(not run)`,
      `a#b '#c' "#d" \\#e $E#f`,
      `$W \${W} x\${W}y $UNSET`,
      `$Vx \${V}x $W-x`,
      `$V x\${V}y $V"" $N`,
      `$S a$S"b" a$T"b"`,
      `"$V" "$S" "$N"`,
      `$E $UNSET \${E} $T a $E b a$E`,
      `$Q "$Q"`,
      `~ ~/x a~ '~' \\~`,
      `-drive file="/my vms/disk one.qcow2"`,
      `'$(ls)' \\$\\(ls\\) "\\$(ls)" '\`x\`' \\\`x\\\` "\\\`x\\\`"`,
      `';|&<>()' ";|&<>()" \\;\\|\\&\\<\\>\\(\\)`,
      "''",
      `a'' ''b`,
    ];
    const got = await shellArgs(texts, ENV);
    texts.forEach((t, i) => {
      assert.deepEqual(split(t), got[i], `text ${JSON.stringify(t)}`);
    });
  },
});
