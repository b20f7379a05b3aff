// Pure text of commands: the stop wait line (cli/core/wait_line.ts),
// prompts with defaults (cli/core/prompt.ts), vm vnc's recipe (cli/commands/vnc.ts), and
// how vm make says to watch an installer (cli/commands/make.ts).

import assert from "node:assert/strict";
import { waitText } from "../../cli/core/wait_line.ts";
import { questionText } from "../../cli/core/prompt.ts";
import { vncRecipe } from "../../cli/commands/vnc.ts";
import { watchHint } from "../../cli/commands/make.ts";

Deno.test("waitText: one VM, and several", () => {
  assert.equal(
    waitText(new Map([["web", { waitedS: 4.7, capS: 15 }]])),
    "waiting for web to power off… 4 s of 15",
  );
  assert.equal(
    waitText(new Map([["web", { waitedS: 4, capS: 15 }], ["db", { waitedS: 2.1, capS: 20 }]])),
    "waiting for web (4 s of 15), db (2 s of 20) to power off…",
  );
});

Deno.test("questionText: the default in brackets", () => {
  assert.equal(questionText("Disk image size for deb?", "20G"), "Disk image size for deb? [20G] ");
  assert.equal(questionText("Log deb?", "y/N"), "Log deb? [y/N] ");
});

Deno.test("vncRecipe: the socket, ssh -L to it, socat on 127.0.0.1", () => {
  const text = vncRecipe("x", "/v/x/supervise/vnc", "ann", "host1");
  assert.match(text, /^ {2}\/v\/x\/supervise\/vnc$/m);
  assert.match(text, /^ {2}ssh -N -L 5900:\/v\/x\/supervise\/vnc ann@host1$/m);
  assert.match(
    text,
    /^ {2}socat TCP-LISTEN:5900,bind=127\.0\.0\.1,reuseaddr,fork UNIX-CONNECT:\/v\/x\/supervise\/vnc$/m,
  );
});

Deno.test("watchHint: vnc and serial console, when the templates have them", () => {
  assert.equal(watchHint("d", ["drive", "vnc"]), '; "vm vnc d" shows its screen');
  assert.equal(
    watchHint("d", ["serial-console", "vnc"]),
    '; "vm vnc d" shows its screen, "vm console d" its serial console',
  );
  assert.equal(watchHint("d", ["drive"]), "");
});
