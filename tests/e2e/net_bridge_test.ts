// Bridges, as root: a network namespace with a bridge and dnsmasq serving
// DHCP on it; vmd runs inside it; a busybox guest attached with --bridge
// gets its address from dnsmasq and reaches the bridge's host address.
// Traffic stays in the namespace, which is removed at the end. The bridge
// helper's /etc/qemu/bridge.conf is written for the test's bridge only when
// there is none (and removed after); before it, attach says what to configure.
// Slow (a quarter of a minute or more of guests): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { readOr, run, TestEnv, waitFor } from "../support/harness.ts";
import { guestArgs, testGuest } from "../support/guest.ts";
import { quoteWords } from "../../lib/text/shell_words.ts";
import { skippable } from "../support/skip.ts";
import { exists } from "../../lib/os/fs.ts";

const CONF = "/etc/qemu/bridge.conf";

/** Why this cannot run here, or undefined. */
function skip(): string | undefined {
  if (Deno.uid() !== 0) return "needs root (ip netns, the bridge helper)";
  if (exists(CONF)) return `${CONF} exists: not changed by a test`;
  if (!exists("/usr/lib/qemu/qemu-bridge-helper")) return "no qemu-bridge-helper";
  return undefined;
}

Deno.test({
  ...skippable("a guest on a bridge in a network namespace gets its address from dnsmasq", skip()),
  async fn() {
    const ns = `vmtbr${Deno.pid}`;
    const br = `br${Deno.pid % 100000}`;
    const t = TestEnv.create();
    const madeDir = !exists("/etc/qemu");
    const inNs = (cmd: string, ...args: string[]) => run("ip", ["netns", "exec", ns, cmd, ...args]);
    try {
      assert.equal((await run("ip", ["netns", "add", ns])).code, 0);
      for (
        const cmd of [
          ["ip", "link", "set", "lo", "up"],
          ["ip", "link", "add", br, "type", "bridge"],
          ["ip", "addr", "add", "10.123.0.1/24", "dev", br],
          ["ip", "link", "set", br, "up"],
        ]
      ) {
        const r = await inNs(cmd[0] ?? "", ...cmd.slice(1));
        assert.equal(r.code, 0, `${cmd.join(" ")}: ${r.stderr}`);
      }
      const dnsmasq = t.spawn("ip", {
        args: [
          ...["netns", "exec", ns, "dnsmasq", "--no-daemon", "--conf-file=/dev/null"],
          ...[`--interface=${br}`, "--bind-interfaces", "--port=0", "--user=root"],
          ...["--dhcp-range=10.123.0.50,10.123.0.99,1h", "--log-dhcp"],
          `--dhcp-leasefile=${join(t.root, "leases")}`,
        ],
        stderr: "piped",
      });
      let dlog = "";
      (async () => {
        const dec = new TextDecoder();
        for await (const c of dnsmasq.stderr) dlog += dec.decode(c, { stream: true });
      })().catch(() => {});
      const vm = (...args: string[]) => run("ip", ["netns", "exec", ns, t.vmExe, ...args], t.env);
      let r = await t.vm(["make", "a", "--disk", "1M", "--yes", "--no-log"], {
        env: { VMCONF_DEFAULT_TEMPLATES: "display-none" },
      });
      assert.equal(r.code, 0, r.stderr);
      // Outside the namespace the bridge does not exist: one line, exit 111.
      r = await t.vm(["net", "attach", "a", "--bridge", br]);
      assert.equal(r.code, 111);
      assert.match(r.stderr, new RegExp(`^vm: fatal: No bridge "${br}" on this host;[^\\n]*\\n$`));
      // Inside, without bridge.conf: what to configure, exit 111, nothing written.
      r = await vm("net", "attach", "a", "--bridge", br);
      assert.equal(r.code, 111);
      assert.match(r.stderr, new RegExp(`add the line "allow ${br}" to ${CONF}`));
      assert.ok(!exists(join(t.dir("a"), "networks")));
      Deno.mkdirSync("/etc/qemu", { recursive: true });
      Deno.writeTextFileSync(CONF, `allow ${br}\n`);
      r = await vm("net", "attach", "a", "--bridge", br);
      assert.equal(r.code, 0, r.stderr);
      const mac = readOr(join(t.dir("a"), "networks")).split(" ")[2]?.trim() ?? "";
      const script =
        `for d in /sys/class/net/*; do [ "$(cat $d/address)" = ${mac} ] && i=\${d##*/}; done
udhcpc -i $i -s /etc/udhcpc.script -q -n -t 30 -T 1 2>/dev/null || echo DHCP-FAILED
ping -c1 -W2 10.123.0.1 >/dev/null 2>&1 && echo PING-OK
`;
      const args = [
        ...guestArgs(await testGuest(), { mem: "128M", run: script }),
        ...["-chardev", "file,id=ser0,path=guest.log,append=on", "-serial", "chardev:ser0"],
      ];
      Deno.writeTextFileSync(join(t.dir("a"), "templates", "guest"), quoteWords(args) + "\n");
      r = await vm("args", "a");
      assert.match(r.stdout, new RegExp(`-netdev bridge,id=vmnet0,br=${br},helper=`));
      t.spawn("ip", { args: ["netns", "exec", ns, t.vmExe, "daemon"], env: t.env });
      await waitFor(async () => (await vm("start", "a")).code === 0, 20_000);
      const log = () => readOr(join(t.dir("a"), "guest.log"));
      assert.ok(await waitFor(() => /UDHCPC-BOUND/.test(log()), 120_000), log());
      assert.match(log(), /UDHCPC-BOUND \S+ 10\.123\.0\.(5\d|[6-9]\d)\/24/);
      assert.ok(await waitFor(() => log().includes("PING-OK"), 10_000), log());
      assert.match(dlog, new RegExp(`DHCPACK\\(${br}\\) 10\\.123\\.0\\.\\d+ ${mac}`));
      // vm doctor in the namespace: the bridge attachment is fine.
      assert.doesNotMatch((await vm("doctor")).stdout, /bridge/);
      await vm("kill", "a");
    } finally {
      await t.close();
      await run("ip", ["netns", "del", ns]);
      if (exists(CONF)) Deno.removeSync(CONF);
      if (madeDir && exists("/etc/qemu")) Deno.removeSync("/etc/qemu");
    }
  },
});
