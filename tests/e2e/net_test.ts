// Private networks with real guests, as an unprivileged user made here with
// useradd, with its own VMDIR and vmd: two busybox guests on one network
// (one with --ip, one made with --net --no-nat) get their addresses by DHCP
// from vm's switch and ping each other; the switch killed, runit restarts it
// and the pings work again within 10 s; a restarted guest gets the same
// address again. Figures (switch RSS and private memory, time to ping again)
// are printed.
// Slow (a quarter of a minute or more of guests): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { readStatus } from "../../lib/runit/status.ts";
import { readOr, run, TestEnv, waitFor } from "../support/harness.ts";
import { guestArgs, testGuest } from "../support/guest.ts";
import { quoteWords } from "../../lib/text/shell_words.ts";
import { skippable } from "../support/skip.ts";
import { addTestUser, removeTestUser } from "../support/test_user.ts";

/** The guest's script: DHCP on the NIC with `mac`, then a ping of `peer` every second, forever. */
function script(mac: string, peer: string): string {
  return `for d in /sys/class/net/*; do [ "$(cat $d/address)" = ${mac} ] && i=\${d##*/}; done
ip link set $i up
udhcpc -i $i -s /etc/udhcpc.script -q -n -t 30 -T 1 2>/dev/null || echo DHCP-FAILED
while :; do if ping -c1 -W1 ${peer} >/dev/null 2>&1; then echo PING-OK; else echo PING-FAIL; fi; sleep 1; done
`;
}

/** The bytes of /proc/PID/smaps_rollup's fields, in kB: Rss, Private_Clean + Private_Dirty. */
function memoryOf(pid: number): { rss: number; private: number } {
  const text = readOr(`/proc/${pid}/smaps_rollup`);
  const kb = (f: string) => Number(new RegExp(`^${f}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
  return { rss: kb("Rss"), private: kb("Private_Clean") + kb("Private_Dirty") };
}

/** CPU ticks (utime + stime) of `pid`. */
function cpuTicks(pid: number): number {
  const f = readOr(`/proc/${pid}/stat`).replace(/^.*\) /, "").split(" ");
  return Number(f[11]) + Number(f[12]);
}

Deno.test({
  ...skippable(
    "two guests on a private network, as a user: DHCP addresses that stay, pings, switch restarts",
    Deno.uid() === 0 ? undefined : "needs root (useradd, setpriv)",
  ),
  async fn() {
    const { name: user, ...ids } = await addTestUser("vmnet");
    const t = TestEnv.create();
    try {
      const home = join(t.root, "home");
      Deno.mkdirSync(home);
      const env = {
        ...t.env,
        VMCONF: "",
        HOME: home,
        DENO_DIR: join(t.root, "deno"),
        USER: user,
        VMCONF_DEFAULT_TEMPLATES: "display-none",
      };
      // The guest's files where the user can read them.
      const g = await testGuest();
      const guest = { kernel: join(t.root, "bzImage"), initrd: join(t.root, "initrd") };
      Deno.copyFileSync(g.kernel, guest.kernel);
      Deno.copyFileSync(g.initrd, guest.initrd);
      assert.equal((await run("chown", ["-R", `${ids.uid}:${ids.gid}`, t.root])).code, 0);
      const asUser = ["setpriv", `--reuid=${ids.uid}`, `--regid=${ids.gid}`, "--clear-groups"];
      const vm = async (...args: string[]) => {
        const r = await run(asUser[0] ?? "", [...asUser.slice(1), t.vmExe, ...args], env);
        return r;
      };
      const ok = async (...args: string[]) => {
        const r = await vm(...args);
        assert.equal(r.code, 0, `vm ${args.join(" ")}: ${r.stderr}`);
        return r.stdout;
      };
      await ok("net", "create", "lan");
      const subnet: string = JSON.parse(await ok("net", "list", "--json"))[0].subnet;
      const prefix = subnet.replace(/\.0\/24$/, "");
      await ok("make", "a", "--disk", "1M", "--yes", "--no-log");
      await ok("net", "attach", "a", "lan", "--ip", `${prefix}.50`);
      await ok("make", "b", "--disk", "1M", "--yes", "--no-log", "--net", "lan", "--no-nat");
      type Member = { vm: string; mac: string; ip: string };
      const members: Member[] = JSON.parse(await ok("net", "list", "--json"))[0].vms;
      const of = (name: string) => members.find((m) => m.vm === name) as Member;
      assert.equal(of("a").ip, `${prefix}.50`);
      assert.equal(of("b").ip, `${prefix}.2`);
      // vm ip: the private address without any agent.
      assert.match(await ok("ip", "b"), new RegExp(`^@lan ${prefix}\\.2/24$`, "m"));
      for (const [name, peer] of [["a", "b"], ["b", "a"]] as const) {
        const args = [
          ...guestArgs(guest, { mem: "128M", run: script(of(name).mac, of(peer).ip) }),
          "-chardev",
          "file,id=ser0,path=guest.log,append=on",
          "-serial",
          "chardev:ser0",
        ];
        await Deno.writeTextFile(join(t.dir(name), "templates", "guest"), quoteWords(args) + "\n");
        await run("chown", [`${ids.uid}:${ids.gid}`, join(t.dir(name), "templates", "guest")]);
      }
      assert.match(await ok("args", "a"), /-nic user,id=vmnet .*-netdev dgram,id=vmnet0,/);
      assert.doesNotMatch(await ok("args", "b"), /-nic/);
      t.spawn(asUser[0] ?? "", { args: [...asUser.slice(1), t.vmExe, "daemon"], env });
      const net = join(t.vmdir, "@lan");
      assert.ok(await waitFor(() => (readStatus(net)?.pid ?? 0) > 0, 20_000), "switch runs");
      await ok("start", "a", "b");
      const log = (name: string) => readOr(join(t.dir(name), "guest.log"));
      const bound = (name: string) => [...log(name).matchAll(/UDHCPC-BOUND \S+ (\S+)/g)];
      const t0 = Date.now();
      for (const name of ["a", "b"]) {
        assert.ok(await waitFor(() => bound(name).length > 0, 120_000), `${name}: ${log(name)}`);
      }
      assert.equal(bound("a")[0]?.[1], `${prefix}.50/24`);
      assert.equal(bound("b")[0]?.[1], `${prefix}.2/24`);
      for (const name of ["a", "b"]) {
        assert.ok(await waitFor(() => log(name).includes("PING-OK"), 30_000), log(name));
      }
      console.log(`both guests bound and pinging ${(Date.now() - t0) / 1000} s after vm start`);
      // The switch: its memory and CPU while idle (the guests ping once a second).
      const sw = readStatus(net)?.pid ?? 0;
      const mem = memoryOf(sw);
      const c0 = cpuTicks(sw);
      await new Promise((r) => setTimeout(r, 5000));
      console.log(
        `vm __switch: RSS ${mem.rss} kB, private ${mem.private} kB; ` +
          `CPU ${cpuTicks(sw) - c0} ticks in 5 s with two guests pinging once a second`,
      );
      assert.ok(mem.private < 20_000, `private memory ${mem.private} kB`);
      // Killed: runit starts it again, the guests ping again within 10 s.
      const killed = Date.now();
      Deno.kill(sw, "SIGKILL");
      // Only pings after the new switch runs count (one in flight at the kill may end after it).
      assert.ok(await waitFor(() => ![0, sw].includes(readStatus(net)?.pid ?? 0), 10_000));
      const at = { a: log("a").length, b: log("b").length };
      for (const name of ["a", "b"] as const) {
        assert.ok(
          await waitFor(
            () => log(name).slice(at[name]).includes("PING-OK"),
            10_000 - (Date.now() - killed),
          ),
          `${name} pings again: ${log(name).slice(at[name])}`,
        );
      }
      console.log(`pings again ${(Date.now() - killed) / 1000} s after the switch was killed`);
      // A restart of b: the same address again.
      await ok("restart", "b");
      assert.ok(await waitFor(() => bound("b").length > 1, 120_000), log("b"));
      assert.equal(bound("b")[1]?.[1], `${prefix}.2/24`);
      // While attached, the network cannot be removed.
      const rm = await vm("net", "rm", "lan");
      assert.equal(rm.code, 1);
      assert.match(rm.stderr, /^vm: fatal: Network "lan" is used by "a", "b"; detach first/);
      // vm list shows the network under the VMs; vm doctor finds nothing wrong with it.
      assert.match(await ok("list"), /^lan\s+\S+\s+run\s+a \S+, b \S+$/m);
      assert.doesNotMatch((await vm("doctor")).stdout, /[Nn]etwork/);
      await ok("kill", "a", "b");
      // Idle (no guest): no CPU at all.
      const idle = readStatus(net)?.pid ?? 0;
      const i0 = cpuTicks(idle);
      await new Promise((r) => setTimeout(r, 3000));
      console.log(`vm __switch idle: ${cpuTicks(idle) - i0} CPU ticks in 3 s`);
      assert.ok(cpuTicks(idle) - i0 <= 1);
    } finally {
      await t.close();
      await removeTestUser(user);
    }
  },
});
