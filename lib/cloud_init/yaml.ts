/**
 * Writing YAML (never reading it): block mappings and sequences, strings
 * as JSON-style double-quoted scalars (valid YAML; characters a YAML reader
 * refuses raw, such as DEL and C1 controls, or takes for line breaks are
 * written as `\u` escapes), multi-line text as literal blocks. Enough for
 * cloud-init's meta-data and cloud-config, with no YAML library. Pure.
 * Level: bottom (lib/cloud_init, no I/O).
 * @module
 */

/** A multi-line text written as a literal block (`|`), e.g. a PEM key. */
export class Literal {
  constructor(readonly text: string) {}
}

/** A value YAML can be written from; undefined members of a mapping are left out. */
export type YamlValue =
  | string
  | number
  | boolean
  | Literal
  | readonly YamlValue[]
  | { readonly [key: string]: YamlValue | undefined };

const KEY = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** Characters YAML (PyYAML's reader: cloud-init's) refuses in a stream: not "printable". */
const NOT_PRINTABLE = /[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/u;

/** What JSON.stringify leaves raw but a double-quoted YAML scalar must escape (DEL, C1, LS, PS). */
const ESCAPE_IN_YAML = /[\x7f-\x9f\u2028\u2029\ufffe\uffff]/g;

/**
 * The first character of `text` a YAML reader refuses, with its 1-based
 * line, or undefined when there is none. Pure.
 */
export function unprintable(text: string): { char: string; line: number } | undefined {
  const m = NOT_PRINTABLE.exec(text);
  if (m === null) return undefined;
  return { char: m[0], line: text.slice(0, m.index).split("\n").length };
}

function isMapping(v: YamlValue): v is { readonly [key: string]: YamlValue | undefined } {
  return typeof v === "object" && !(v instanceof Literal) && !Array.isArray(v);
}

/** A scalar on one line. */
function scalar(v: string | number | boolean): string {
  if (typeof v === "string") {
    return JSON.stringify(v).replace(
      ESCAPE_IN_YAML,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
    );
  }
  if (typeof v === "number" && !Number.isFinite(v)) throw new Error(`YAML: ${v} is no number`);
  return String(v);
}

/**
 * The header (`|`, `|-`, `|+`, with an indentation indicator when needed) and lines of a literal.
 */
function literal(text: string, pad: string): string {
  const body = text.replace(/\n+$/, "");
  const trailing = text.length - body.length;
  const chomp = trailing === 0 ? "-" : trailing === 1 ? "" : "+";
  const indicator = /^[ \n]/.test(body) ? "2" : "";
  const lines = (trailing > 1 ? text.slice(0, -1) : body).split("\n");
  return `|${indicator}${chomp}\n` + lines.map((l) => (l === "" ? "" : pad + l)).join("\n") + "\n";
}

/** A value after `key:` or `- `: inline, or on the next lines indented by `pad`. */
function after(v: YamlValue, pad: string): string {
  if (v instanceof Literal) return " " + literal(v.text, pad);
  if (Array.isArray(v)) return v.length === 0 ? " []\n" : "\n" + emit(v, pad);
  if (isMapping(v)) {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined);
    return keys.length === 0 ? " {}\n" : "\n" + emit(v, pad);
  }
  return " " + scalar(v as string | number | boolean) + "\n";
}

/** Emits a block collection at indentation `pad`. */
function emit(v: YamlValue, pad: string): string {
  if (Array.isArray(v)) {
    return v.map((item: YamlValue) => {
      if (isMapping(item) && Object.keys(item).some((k) => item[k] !== undefined)) {
        // "- key: value" with the other keys aligned under the first.
        const inner = emit(item, pad + "  ");
        return pad + "- " + inner.slice(pad.length + 2);
      }
      return pad + "-" + after(item, pad + "  ");
    }).join("");
  }
  if (isMapping(v)) {
    let out = "";
    for (const [k, value] of Object.entries(v)) {
      if (value === undefined) continue;
      if (!KEY.test(k)) throw new Error(`YAML: key "${k}" is not a plain key`);
      out += `${pad}${k}:` + after(value, pad + "  ");
    }
    return out;
  }
  return pad + after(v, pad).trimStart();
}

/** The YAML text of a mapping (the document's top level). Pure. */
export function toYaml(doc: { readonly [key: string]: YamlValue | undefined }): string {
  return emit(doc, "");
}
