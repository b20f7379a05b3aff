// As a user sees it: text a guest controls never reaches
// the terminal raw. `vm log` shows the serial bytes' escape sequences
// (`ESC ] 0 ;` title, `ESC [ 6 n` query, a clipboard write) as `\x1b…`;
// `vm ip` through a hostile agent (tests/support/hostile_agent.ts, on the
// VM's agent socket) shows its interface names and addresses escaped, and
// the agent's error `desc` inside `vm: fatal:` too; `--json` stays JSON.

import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "../support/harness.ts";
import { HostileAgent, send } from "../support/hostile_agent.ts";

const ESC = "\x1b";
const HOSTILE = `${ESC}]0;pwned\x07${ESC}]52;c;ZXZpbA==\x07${ESC}[2J${ESC}[6n\u009b6n`;
const SHOWN = "\\x1b]0;pwned\\x07\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J\\x1b[6n\\u009b6n";

test("vm log, vm ip and an agent's error show a guest's control characters escaped", async (t) => {
  const made = await t.vm(["make", "web", "--disk", "1M", "--wait", "1", "--log", "-y"], {
    env: { VMCONF_DEFAULT_TEMPLATES: "display-none" },
  });
  assert.equal(made.code, 0, made.stderr);
  const dir = t.dir("web");
  Deno.mkdirSync(join(dir, "log", "main"), { recursive: true });
  Deno.writeTextFileSync(
    join(dir, "log", "main", "current"),
    `boot\r\nlogin: ${HOSTILE}\tok\r\n`,
  );
  const log = await t.vm(["log", "web"]);
  assert.equal(log.code, 0, log.stderr);
  assert.equal(log.stdout, `boot\r\nlogin: ${SHOWN}\tok\r\n`);

  let fail = false;
  const agent = new HostileAgent(dir, (msg, conn) => {
    const reply = fail
      ? { error: { class: "GenericError", desc: `bad ${HOSTILE}` }, id: msg.id }
      : {
        return: [{
          name: `eth0${HOSTILE}`,
          "ip-addresses": [
            { "ip-address-type": "ipv4", "ip-address": `10.0.2.15${ESC}[2J`, prefix: 24 },
          ],
        }],
        id: msg.id,
      };
    return send(conn, JSON.stringify(reply) + "\n");
  });
  try {
    const ip = await t.vm(["ip", "web"]);
    assert.equal(ip.code, 0, ip.stderr);
    assert.equal(ip.stdout, `eth0${SHOWN} 10.0.2.15\\x1b[2J/24\n`);
    const json = await t.vm(["ip", "web", "--json"]);
    assert.equal(JSON.parse(json.stdout)[0].name, `eth0${HOSTILE}`);
    assert.ok(!json.stdout.includes(ESC));
    fail = true;
    const err = await t.vm(["ip", "web"]);
    assert.equal(err.code, 1);
    assert.equal(
      err.stderr,
      `vm: fatal: Guest agent "guest-network-get-interfaces" failed in VM "web": bad ${SHOWN}\n`,
    );
  } finally {
    await agent.close();
  }
});
