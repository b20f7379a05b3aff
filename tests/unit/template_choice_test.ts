// lib/vm/template_choice.ts: -name drops a default, +name/name adds, -* drops all.

import assert from "node:assert/strict";
import { applyTemplateWords, imageDefaults } from "../../lib/vm/template_choice.ts";
import { usageFails } from "../support/fails.ts";

const DEFAULTS = ["display-none", "drive", "kvm", "mem", "vnc"];
const AVAILABLE = [...DEFAULTS, "audio-pa", "cpu-host", "mem-4g", "serial-console"];

Deno.test("applyTemplateWords: drops and additions in order", () => {
  assert.deepEqual(applyTemplateWords(DEFAULTS, ["-vnc", "+audio-pa"], AVAILABLE), {
    defaults: ["display-none", "drive", "kvm", "mem"],
    chosen: ["audio-pa"],
  });
  assert.deepEqual(applyTemplateWords(DEFAULTS, ["serial-console", "mem-4g"], AVAILABLE), {
    defaults: DEFAULTS,
    chosen: ["serial-console", "mem-4g"],
  });
  // Dropping a template that is no default changes nothing.
  assert.deepEqual(applyTemplateWords(DEFAULTS, ["-audio-pa", "+vnc"], AVAILABLE), {
    defaults: DEFAULTS,
    chosen: ["vnc"],
  });
  // A later -name takes back an earlier +name.
  assert.deepEqual(applyTemplateWords([], ["+cpu-host", "-cpu-host"], AVAILABLE), {
    defaults: [],
    chosen: [],
  });
});

Deno.test("applyTemplateWords: -* drops every default; additions after it stay", () => {
  assert.deepEqual(applyTemplateWords(DEFAULTS, ["-*", "drive", "mem"], AVAILABLE), {
    defaults: [],
    chosen: ["drive", "mem"],
  });
  assert.deepEqual(applyTemplateWords(DEFAULTS, [], AVAILABLE), { defaults: DEFAULTS, chosen: [] });
});

Deno.test("applyTemplateWords: an unknown name is a usage error naming the word", () => {
  assert.match(
    usageFails(() => applyTemplateWords(DEFAULTS, ["-audo-pa"], AVAILABLE)),
    /^Unknown template "audo-pa" in "-audo-pa"; available: display-none /,
  );
  assert.match(
    usageFails(() => applyTemplateWords(DEFAULTS, ["+nope"], AVAILABLE)),
    /^Unknown template "nope"; available:/,
  );
});

Deno.test("imageDefaults: a VM made from a cloud image gets drive-virtio for drive", () => {
  const available = [...AVAILABLE, "drive-virtio"];
  assert.deepEqual(imageDefaults(DEFAULTS, available), [
    "display-none",
    "drive-virtio",
    "kvm",
    "mem",
    "vnc",
  ]);
  assert.deepEqual(imageDefaults(DEFAULTS, AVAILABLE), DEFAULTS, "not when drive-virtio is gone");
  // Chosen explicitly, drive stays: it replaces the default of its prefix.
  const choice = applyTemplateWords(imageDefaults(DEFAULTS, available), ["drive"], available);
  assert.deepEqual(choice, { defaults: imageDefaults(DEFAULTS, available), chosen: ["drive"] });
});
