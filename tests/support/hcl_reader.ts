/**
 * Test support: a small HCL reader for the subset `vm export nomad` writes
 * (and Nomad job files commonly use): attributes `key = value` with strings,
 * numbers, bools and lists; blocks `type "label"… { … }`; `#` and `//`
 * comments. Strings are unescaped as HCL does (`$${` is a literal `${`).
 * Anything else is a thrown Error. Not a test file.
 * @module
 */

/** An HCL value. */
export type HclValue = string | number | boolean | HclValue[];

/** The body of a file or block. */
export interface HclBody {
  attrs: Record<string, HclValue>;
  blocks: { type: string; labels: string[]; body: HclBody }[];
}

type Token = { t: "ident" | "string" | "number" | "punct" | "nl"; v: string };

const ESCAPES: Record<string, string> = { n: "\n", r: "\r", t: "\t", '"': '"', "\\": "\\" };

function readString(src: string, start: number): { v: string; end: number } {
  let v = "";
  let i = start + 1;
  while (i < src.length && src[i] !== '"') {
    const c = src[i] ?? "";
    if (c === "\n") throw new Error(`HCL: newline in string at ${i}`);
    if (c === "\\") {
      const n = src[i + 1] ?? "";
      if (n === "u") {
        v += String.fromCodePoint(parseInt(src.slice(i + 2, i + 6), 16));
        i += 6;
        continue;
      }
      if (ESCAPES[n] === undefined) throw new Error(`HCL: bad escape \\${n}`);
      v += ESCAPES[n];
      i += 2;
    } else if ((c === "$" || c === "%") && src[i + 1] === c && src[i + 2] === "{") {
      v += c + "{";
      i += 3;
    } else if ((c === "$" || c === "%") && src[i + 1] === "{") {
      throw new Error(`HCL: template interpolation at ${i} is not supported here`);
    } else {
      v += c;
      i++;
    }
  }
  if (src[i] !== '"') throw new Error("HCL: unterminated string");
  return { v, end: i + 1 };
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] ?? "";
    if (c === " " || c === "\t" || c === "\r") i++;
    else if (c === "\n") {
      out.push({ t: "nl", v: c });
      i++;
    } else if (c === "#" || (c === "/" && src[i + 1] === "/")) {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (c === '"') {
      const s = readString(src, i);
      out.push({ t: "string", v: s.v });
      i = s.end;
    } else if ("{}[]=,".includes(c)) {
      out.push({ t: "punct", v: c });
      i++;
    } else {
      const m = /^(-?[0-9]+(\.[0-9]+)?)|^[A-Za-z_][A-Za-z0-9_-]*/.exec(src.slice(i));
      if (m === null) throw new Error(`HCL: unexpected "${c}" at ${i}`);
      out.push({ t: m[1] !== undefined ? "number" : "ident", v: m[0] });
      i += m[0].length;
    }
  }
  return out;
}

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[]) {}

  private peek(): Token | undefined {
    return this.toks[this.i];
  }

  private next(): Token {
    const t = this.toks[this.i++];
    if (t === undefined) throw new Error("HCL: unexpected end");
    return t;
  }

  private expect(v: string): void {
    const t = this.next();
    if (t.v !== v || t.t === "string") throw new Error(`HCL: expected "${v}", got "${t.v}"`);
  }

  private skipNl(): void {
    while (this.peek()?.t === "nl") this.i++;
  }

  value(): HclValue {
    this.skipNl();
    const t = this.next();
    if (t.t === "string") return t.v;
    if (t.t === "number") return Number(t.v);
    if (t.t === "ident" && (t.v === "true" || t.v === "false")) return t.v === "true";
    if (t.t !== "punct" || t.v !== "[") throw new Error(`HCL: unexpected value "${t.v}"`);
    const list: HclValue[] = [];
    while (true) {
      this.skipNl();
      if (this.peek()?.v === "]") break;
      list.push(this.value());
      this.skipNl();
      if (this.peek()?.v === ",") this.i++;
    }
    this.expect("]");
    return list;
  }

  body(closing: boolean): HclBody {
    const body: HclBody = { attrs: {}, blocks: [] };
    while (true) {
      this.skipNl();
      const t = this.peek();
      if (t === undefined && !closing) return body;
      if (t?.t === "punct" && t.v === "}" && closing) return body;
      const name = this.next();
      if (name.t !== "ident") throw new Error(`HCL: expected a name, got "${name.v}"`);
      if (this.peek()?.v === "=" && this.peek()?.t === "punct") {
        this.i++;
        if (Object.hasOwn(body.attrs, name.v)) throw new Error(`HCL: "${name.v}" set twice`);
        body.attrs[name.v] = this.value();
        continue;
      }
      const labels: string[] = [];
      while (this.peek()?.t === "string") labels.push(this.next().v);
      this.expect("{");
      const inner = this.body(true);
      this.expect("}");
      body.blocks.push({ type: name.v, labels, body: inner });
    }
  }
}

/** Parses HCL text (the subset above). Throws Error on anything else. */
export function parseHcl(text: string): HclBody {
  return new Parser(tokenize(text)).body(false);
}
