// Benchmark of a private network (issue 25): VM-to-VM TCP throughput between
// two busybox guests over `vm net` (vm's switch, QEMU's -netdev dgram) next to
// the same transfer between the same two guests through user-mode
// networking's port forward (guest b → 10.0.2.2:HOSTPORT, QEMU's slirp, the
// host's loopback, the forward of guest a's slirp into a), in the same run.
// Each transfer is MB megabytes of zeros from b's `dd` through busybox `nc`
// to a's `nc -l` (counted there: each must arrive whole), timed in the guest from /proc/uptime;
// three rounds, alternating, the median of each. Target: private ≥ 1× the
// forward. Guests run under TCG here (no KVM): absolute figures are low, the
// ratio is what counts. Also the switch's CPU time over the transfers.
// Run: deno run -A bench/net_throughput.ts [MB, default 8]

import { join } from "node:path";
import { readStatus } from "../lib/runit/status.ts";
import { guestArgs, testGuest } from "../tests/support/guest.ts";
import { readOr, TestEnv, waitFor } from "../tests/support/harness.ts";
import { startDaemon } from "../tests/support/daemon.ts";
import { quoteWords } from "../lib/text/shell_words.ts";

const MB = Number(Deno.args[0] ?? 8);
const ROUNDS = 3;
const HOST_PORT = 47000 + (Deno.pid % 1000);

/**
 * The receiver: DHCP on every NIC, then nc servers on 5001 (private) and 5002
 * (forwarded), counting what arrives; their stdin (a FIFO) never ends (busybox nc
 * shuts its side at its stdin's end, and the sender's nc exits when the receiver's does).
 */
const RECEIVER =
  `for i in $(ls /sys/class/net | grep -v lo); do ip link set $i up; udhcpc -i $i -s /etc/udhcpc.script -q -n -t 30 -T 1 2>/dev/null; done
mkfifo /tmp/hold; sleep 99999 >/tmp/hold &
(while :; do echo "GOT private $(nc -l -p 5001 </tmp/hold | wc -c)"; done) &
(while :; do echo "GOT forward $(nc -l -p 5002 </tmp/hold | wc -c)"; done) &
echo RECEIVER-READY
`;

/** The sender: DHCP, then ROUNDS × (private, forwarded) transfers, each timed. */
function sender(peer: string): string {
  return `for i in $(ls /sys/class/net | grep -v lo); do ip link set $i up; udhcpc -i $i -s /etc/udhcpc.script -q -n -t 30 -T 1 2>/dev/null; done
sleep 3
x() { sleep 1; s=$(cut -d' ' -f1 /proc/uptime); dd if=/dev/zero bs=64k count=${
    MB * 16
  } 2>/dev/null | nc $2 $3; e=$(cut -d' ' -f1 /proc/uptime); echo "RESULT $1 $s $e"; }
for r in ${
    Array.from({ length: ROUNDS }, (_, i) => i + 1).join(" ")
  }; do x private ${peer} 5001; x forward 10.0.2.2 ${HOST_PORT}; done
echo SENDER-DONE
`;
}

/** CPU seconds (utime + stime) of `pid`. */
function cpuSeconds(pid: number): number {
  const f = readOr(`/proc/${pid}/stat`).replace(/^.*\) /, "").split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

const t = TestEnv.create();
try {
  const ok = async (...args: string[]) => {
    const r = await t.vm(args, { env: { VMCONF_DEFAULT_TEMPLATES: "display-none" } });
    if (r.code !== 0) throw new Error(`vm ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  await ok("net", "create", "bench");
  for (const name of ["a", "b"]) {
    await ok("make", name, "--disk", "1M", "--yes", "--no-log", "--net", "bench");
    // The user-mode NIC as virtio (the test guest's kernel has virtio_net), with the forwards.
    Deno.writeTextFileSync(
      join(t.dir(name), "templates", "net-user-fwd"),
      '-nic "user,id=vmnet,model=virtio-net-pci$VM_HOSTFWD"\n',
    );
  }
  await ok("port", "a", "add", String(HOST_PORT), "5002");
  const members: { vm: string; ip: string }[] = JSON.parse(await ok("net", "list", "--json"))[0]
    .vms;
  const peer = members.find((m) => m.vm === "a")?.ip ?? "";
  const guest = await testGuest();
  for (const [name, run] of [["a", RECEIVER], ["b", sender(peer)]] as const) {
    const args = [
      ...guestArgs(guest, { mem: "128M", run }),
      ...["-chardev", "file,id=ser0,path=guest.log,append=on", "-serial", "chardev:ser0"],
    ];
    Deno.writeTextFileSync(join(t.dir(name), "templates", "guest"), quoteWords(args) + "\n");
  }
  const daemon = startDaemon(t);
  const net = join(t.vmdir, "@bench");
  if (!await waitFor(() => (readStatus(net)?.pid ?? 0) > 0, 20_000)) throw new Error("no switch");
  await ok("start", "a");
  const log = (n: string) => readOr(join(t.dir(n), "guest.log"));
  if (!await waitFor(() => log("a").includes("RECEIVER-READY"), 180_000)) {
    throw new Error(`receiver not ready: ${log("a").slice(-500)}`);
  }
  const sw = readStatus(net)?.pid ?? 0;
  const cpu0 = cpuSeconds(sw);
  await ok("start", "b");
  if (!await waitFor(() => log("b").includes("SENDER-DONE"), 600_000)) {
    throw new Error(`sender not done: ${log("b").slice(-800)}`);
  }
  const rates: Record<string, number[]> = { private: [], forward: [] };
  for (const m of log("b").matchAll(/RESULT (\w+) ([\d.]+) ([\d.]+)/g)) {
    const s = Number(m[3]) - Number(m[2]);
    rates[m[1] ?? ""]?.push(MB / s);
  }
  // Every transfer arrived whole (a refused connection would look fast).
  const got = [...log("a").matchAll(/GOT (\w+) (\d+)/g)];
  const whole = got.filter((m) => Number(m[2]) === MB * 1024 * 1024).length;
  if (whole !== 2 * ROUNDS) {
    throw new Error(
      `${whole} of ${2 * ROUNDS} transfers arrived whole: ${got.map((m) => m[0])}\n` +
        log("b").slice(-1500),
    );
  }
  const p = median(rates.private ?? []), f = median(rates.forward ?? []);
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(", ");
  console.log(`${MB} MB per transfer, ${ROUNDS} rounds, TCG guests, 128M:`);
  console.log(
    `  private network (vm __switch): ${p.toFixed(1)} MB/s (${fmt(rates.private ?? [])})`,
  );
  console.log(
    `  user-mode port forward:        ${f.toFixed(1)} MB/s (${fmt(rates.forward ?? [])})`,
  );
  console.log(`  ratio private/forward: ${(p / f).toFixed(2)}x (target >= 1x)`);
  console.log(`  switch CPU during the run: ${(cpuSeconds(sw) - cpu0).toFixed(2)} s`);
  console.log(daemon.log().split("\n").filter((l) => l.includes("@bench")).slice(-8).join("\n"));
  await ok("kill", "a", "b");
  if (!(p / f >= 1)) Deno.exitCode = 1;
} finally {
  await t.close();
}
