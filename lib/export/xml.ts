/**
 * Just enough XML for libvirt's domain documents: building elements and
 * writing them indented with escaped text and attributes, and reading a
 * document (`virsh dumpxml`) into the same element tree. The reader knows
 * elements, attributes, text, comments, CDATA, the XML declaration and the
 * five predefined and numeric entities; no DTDs. Pure: no I/O. Area lib/export, at the level of actions.
 * @module
 */

import { UsageError } from "../errors.ts";

/** One element. */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: (XmlElement | string)[];
}

/** An element; `undefined` attributes and children are left out. Pure. */
export function el(
  name: string,
  attrs: Record<string, string | number | undefined> = {},
  ...children: (XmlElement | string | undefined)[]
): XmlElement {
  const a: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) a[k] = String(v);
  return { name, attrs: a, children: children.filter((c) => c !== undefined) };
}

/** `s` escaped for text or a double-quoted attribute. Pure. */
export function xmlEscape(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;").replaceAll("'", "&apos;");
}

function attrText(attrs: Record<string, string>): string {
  return Object.entries(attrs).map(([k, v]) => ` ${k}='${xmlEscape(v)}'`).join("");
}

function write(e: XmlElement, indent: string, out: string[]): void {
  const open = `${indent}<${e.name}${attrText(e.attrs)}`;
  if (e.children.length === 0) {
    out.push(`${open}/>`);
  } else if (e.children.every((c) => typeof c === "string")) {
    out.push(`${open}>${e.children.map((c) => xmlEscape(c as string)).join("")}</${e.name}>`);
  } else {
    out.push(`${open}>`);
    for (const c of e.children) {
      if (typeof c === "string") out.push(indent + "  " + xmlEscape(c));
      else write(c, indent + "  ", out);
    }
    out.push(`${indent}</${e.name}>`);
  }
}

/** The element as an indented XML document (no declaration), ending in a newline. Pure. */
export function xmlDocument(root: XmlElement): string {
  const out: string[] = [];
  write(root, "", out);
  return out.join("\n") + "\n";
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function unescape(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (m, name: string) => {
    if (name.startsWith("#x")) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith("#")) return String.fromCodePoint(parseInt(name.slice(1), 10));
    const v = ENTITIES[name];
    if (v === undefined) throw new UsageError(`XML: unknown entity "${m}"`);
    return v;
  });
}

const TAG = /<([A-Za-z_][\w.:-]*)((?:\s+[\w.:-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/y;
const ATTR = /([\w.:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

/** Parses an XML document into its root element; whitespace-only text is dropped. Pure; throws UsageError. */
export function parseXml(text: string): XmlElement {
  const stack: XmlElement[] = [{ name: "", attrs: {}, children: [] }];
  let i = 0;
  const top = () => stack[stack.length - 1] as XmlElement;
  while (i < text.length) {
    const lt = text.indexOf("<", i);
    const chunk = text.slice(i, lt < 0 ? text.length : lt);
    if (chunk.trim() !== "") top().children.push(unescape(chunk));
    if (lt < 0) break;
    i = lt;
    const skip = [["<?", "?>"], ["<!--", "-->"], ["<!DOCTYPE", ">"]].find(([a]) =>
      text.startsWith(a ?? "", i)
    );
    if (skip !== undefined) {
      const end = text.indexOf(skip[1] ?? "", i);
      if (end < 0) throw new UsageError("XML: unterminated markup");
      i = end + (skip[1] ?? "").length;
    } else if (text.startsWith("<![CDATA[", i)) {
      const end = text.indexOf("]]>", i);
      if (end < 0) throw new UsageError("XML: unterminated CDATA");
      top().children.push(text.slice(i + 9, end));
      i = end + 3;
    } else if (text.startsWith("</", i)) {
      const end = text.indexOf(">", i);
      const name = text.slice(i + 2, end).trim();
      const open = stack.pop();
      if (open === undefined || open.name !== name || stack.length === 0) {
        throw new UsageError(`XML: "</${name}>" closes "<${open?.name ?? ""}>"`);
      }
      i = end + 1;
    } else {
      TAG.lastIndex = i;
      const m = TAG.exec(text);
      if (m === null) throw new UsageError(`XML: bad tag at offset ${i}`);
      const e: XmlElement = { name: m[1] ?? "", attrs: {}, children: [] };
      for (const a of (m[2] ?? "").matchAll(ATTR)) {
        e.attrs[a[1] ?? ""] = unescape(a[2] ?? a[3] ?? "");
      }
      top().children.push(e);
      if (m[3] !== "/") stack.push(e);
      i = TAG.lastIndex;
    }
  }
  const root = stack[0]?.children.find((c): c is XmlElement => typeof c !== "string");
  if (stack.length !== 1 || root === undefined) throw new UsageError("XML: unbalanced document");
  return root;
}

/** The child elements of `e` named `name`. Pure. */
export function children(e: XmlElement | undefined, name: string): XmlElement[] {
  return (e?.children ?? []).filter((c): c is XmlElement =>
    typeof c !== "string" && c.name === name
  );
}

/** The first child element of `e` at `path` (`os/kernel`), or undefined. Pure. */
export function child(e: XmlElement | undefined, path: string): XmlElement | undefined {
  let cur = e;
  for (const name of path.split("/")) cur = children(cur, name)[0];
  return cur;
}
