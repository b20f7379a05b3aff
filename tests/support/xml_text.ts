/**
 * Test support: the text of an element parsed by lib/export/xml.ts. Not a
 * test file.
 * @module
 */

import type { XmlElement } from "../../lib/export/xml.ts";

/** The text of `e` (its string children joined), "" when none. Pure. */
export function textOf(e: XmlElement | undefined): string {
  return (e?.children ?? []).filter((c) => typeof c === "string").join("").trim();
}
