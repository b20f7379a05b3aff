/**
 * The words that choose a new VM's templates (`vm make --templates`, and the
 * answer to its templates question): `name` or `+name` adds a template
 * (replacing a default of the same prefix, lib/vm/templates.ts), `-name`
 * drops a default, `-*` drops every default. Pure.
 * @module
 */

import { UsageError } from "../errors.ts";

/** The defaults left and the templates added, before chooseTemplates combines them. */
export interface TemplateChoice {
  defaults: string[];
  chosen: string[];
}

/** The word that drops every default. */
export const DROP_ALL = "-*";

/**
 * Applies `words` to `defaults`: drops (`-name`, `-*`) and additions
 * (`name`, `+name`), in order; `available` are the template names that
 * exist. Dropping a template that is no default changes nothing. Throws
 * UsageError for a name that is no template. Pure.
 */
export function applyTemplateWords(
  defaults: readonly string[],
  words: readonly string[],
  available: readonly string[],
): TemplateChoice {
  let kept = [...defaults];
  const chosen: string[] = [];
  for (const word of words) {
    if (word === DROP_ALL) {
      kept = [];
      continue;
    }
    const drop = word.startsWith("-");
    const name = drop || word.startsWith("+") ? word.slice(1) : word;
    if (!available.includes(name)) {
      throw new UsageError(
        `Unknown template "${name}"${drop ? ` in "${word}"` : ""}; available: ${
          available.join(" ")
        }`,
      );
    }
    if (drop) {
      kept = kept.filter((t) => t !== name);
      const i = chosen.indexOf(name);
      if (i >= 0) chosen.splice(i, 1);
    } else if (!chosen.includes(name)) chosen.push(name);
  }
  return { defaults: kept, chosen };
}

/** The default disk template, and the one a VM made from a cloud image gets instead. */
const IMAGE_DRIVE = { plain: "drive", virtio: "drive-virtio" } as const;

/**
 * The defaults of a VM made from a cloud image (`vm make --image`): its
 * disk on virtio (`drive-virtio` instead of `drive`, when available), as
 * cloud images expect it (`/dev/vda`). Pure.
 */
export function imageDefaults(defaults: readonly string[], available: readonly string[]): string[] {
  if (!available.includes(IMAGE_DRIVE.virtio)) return [...defaults];
  return defaults.map((t) => (t === IMAGE_DRIVE.plain ? IMAGE_DRIVE.virtio : t));
}
