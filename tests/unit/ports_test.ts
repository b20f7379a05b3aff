/**
 * Tests of lib/vm/ports.ts and lib/vm/port_check.ts: the `ports` file,
 * hostfwd options, HMP commands, choosing a free port, and finding who
 * holds a host port (a real listener of this test process).
 */

import assert from "node:assert/strict";
import {
  DEFAULT_NIC_TEMPLATE,
  firstFreePort,
  formatPorts,
  forwardCarrier,
  hmpAdd,
  hmpRemove,
  hostfwdOptions,
  netTemplate,
  parsePorts,
  parseRuleWords,
  type PortRule,
  portsEnv,
  portsInUse,
  readPorts,
  sshRule,
  writePorts,
} from "../../lib/vm/ports.ts";
import { canBind, checkPortsFree, parseProcNet, socketInode } from "../../lib/vm/port_check.ts";
import { parseTemplate } from "../../lib/vm/templates.ts";
import { cloudInfo } from "../../lib/vm/cloud_info.ts";
import { inspectDir } from "../../lib/vm/inspect.ts";
import { socketHolder } from "../../lib/os/proc.ts";

const SSH: PortRule = { proto: "tcp", hostAddr: "127.0.0.1", hostPort: 2222, guestPort: 22 };

Deno.test("ports file: parsed, formatted back the same, comments and blanks skipped", () => {
  const text =
    "# forwards\ntcp 127.0.0.1:2222 22\n\nudp 0.0.0.0:5353 53  # dns\ntcp 10.1.2.3:8080 80\n";
  const rules = parsePorts(text, "ports");
  assert.deepEqual(rules, [
    SSH,
    { proto: "udp", hostAddr: "0.0.0.0", hostPort: 5353, guestPort: 53 },
    { proto: "tcp", hostAddr: "10.1.2.3", hostPort: 8080, guestPort: 80 },
  ]);
  assert.equal(
    formatPorts(rules),
    "tcp 127.0.0.1:2222 22\nudp 0.0.0.0:5353 53\ntcp 10.1.2.3:8080 80\n",
  );
  assert.deepEqual(parsePorts(formatPorts(rules), "p"), rules);
  assert.deepEqual(sshRule(rules), SSH);
});

Deno.test("ports file: bad lines are refused with file and line, never run", () => {
  const bad: [string, RegExp][] = [
    ["tcp 127.0.0.1:2222\n", /ports:1: expected/],
    ["\nsctp 1:2 3\n", /ports:2: expected/],
    ["tcp 127.0.0.1:70000 22\n", /no host port/],
    ["tcp 999.0.0.1:2222 22\n", /not an IPv4/],
    ["tcp 2222 0\n", /not a guest port/],
    ["tcp 2222 22\ntcp 0.0.0.0:2222 23\n", /ports:2: host port 2222 is forwarded twice/],
    ["tcp $(reboot):22 22\n", /not an IPv4/],
  ];
  for (const [text, re] of bad) assert.throws(() => parsePorts(text, "ports"), re);
});

Deno.test("rule words: protocol and address optional", () => {
  assert.deepEqual(parseRuleWords(["8080", "80"]), { ...SSH, hostPort: 8080, guestPort: 80 });
  assert.deepEqual(parseRuleWords(["udp", "0.0.0.0:53", "53"]), {
    proto: "udp",
    hostAddr: "0.0.0.0",
    hostPort: 53,
    guestPort: 53,
  });
  assert.equal(typeof parseRuleWords(["tcp", "80"]), "string");
});

Deno.test("hostfwd options, the net template and the HMP commands", () => {
  const rules = [
    SSH,
    { proto: "udp", hostAddr: "0.0.0.0", hostPort: 5353, guestPort: 53 } as PortRule,
  ];
  assert.equal(
    hostfwdOptions(rules),
    ",hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp:0.0.0.0:5353-:53",
  );
  assert.equal(hostfwdOptions([]), "");
  const args = parseTemplate(netTemplate("52:54:00:aa:bb:cc"), "templates/net-user-fwd", {
    VM_HOSTFWD: hostfwdOptions(rules),
  });
  assert.deepEqual(args, [
    "-netdev",
    "user,id=vmnet,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp:0.0.0.0:5353-:53",
    "-device",
    "virtio-net-pci,netdev=vmnet,mac=52:54:00:aa:bb:cc",
  ]);
  assert.deepEqual(parseTemplate(netTemplate("52:54:00:aa:bb:cc"), "t", {})[1], "user,id=vmnet");
  assert.equal(hmpAdd(SSH), "hostfwd_add vmnet tcp:127.0.0.1:2222-:22");
  assert.equal(hmpRemove(SSH), "hostfwd_remove vmnet tcp:127.0.0.1:2222");
});

Deno.test("the first free port skips ports of other VMs and ports bound on the host", () => {
  assert.equal(firstFreePort(new Set(), () => true), 2222);
  assert.equal(firstFreePort(new Set([2222, 2223]), (p) => p !== 2224), 2225);
  assert.throws(() => firstFreePort(new Set(), () => false, 65530), /No free host port/);
});

Deno.test("VMDIR: ports of other VMs, the environment __run adds", () => {
  const vmdir = Deno.makeTempDirSync({ prefix: "ports-test-" });
  try {
    for (const [name, port] of [["a", 2222], ["b", 2223]] as const) {
      Deno.mkdirSync(`${vmdir}/${name}`);
      Deno.writeTextFileSync(`${vmdir}/${name}/run`, "");
      writePorts(`${vmdir}/${name}`, [{ ...SSH, hostPort: port }]);
      assert.equal(Deno.statSync(`${vmdir}/${name}/ports`).mode! & 0o777, 0o600);
    }
    Deno.mkdirSync(`${vmdir}/c`);
    Deno.writeTextFileSync(`${vmdir}/c/run`, "");
    Deno.writeTextFileSync(`${vmdir}/c/ports`, "broken\n");
    assert.deepEqual([...portsInUse(vmdir)].sort(), [2222, 2223]);
    assert.deepEqual([...portsInUse(vmdir, "a")], [2223]);
    assert.deepEqual(portsEnv(inspectDir(`${vmdir}/a`).ports), {
      VM_HOSTFWD: ",hostfwd=tcp:127.0.0.1:2222-:22",
    });
    assert.deepEqual(portsEnv(inspectDir(`${vmdir}/none`).ports), {});
    assert.deepEqual(readPorts(`${vmdir}/none`), []);
    assert.throws(() => portsEnv(inspectDir(`${vmdir}/c`).ports), /ports:1/);
  } finally {
    Deno.removeSync(vmdir, { recursive: true });
  }
});

Deno.test("/proc/net/tcp lines: port, state and inode", () => {
  const text =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
    "   0: 0100007F:08AE 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41235 1 0000\n" +
    "   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000\n";
  assert.deepEqual(parseProcNet(text), [
    { port: 2222, state: "0A", inode: 41235 },
    { port: 22, state: "0A", inode: 1234 },
  ]);
});

Deno.test("a port held by a listener: not bindable, its holder named, start refused with both", () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (l.addr as Deno.NetAddr).port;
    assert.equal(canBind("tcp", "127.0.0.1", port), false);
    const inode = socketInode("tcp", port);
    assert.ok(inode !== undefined);
    assert.equal(socketHolder(inode)?.pid, Deno.pid);
    const rule = { ...SSH, hostPort: port };
    assert.throws(
      () => checkPortsFree("web", [rule]),
      new RegExp(
        `^SystemError: Host port ${port} \\(tcp 127.0.0.1:${port} 22 in "ports" of VM "web"\\) is in use by ` +
          `PID ${Deno.pid} \\(\\S+\\); stop that or move the forward with "vm port web rm ${port}"$`,
      ),
    );
    l.close();
    assert.equal(canBind("tcp", "127.0.0.1", port), true);
    checkPortsFree("web", [rule]);
  } finally {
    try {
      l.close();
    } catch { /* closed above */ }
  }
});

Deno.test("cloud info: agent template present or not, SSH port or null", () => {
  const dir = Deno.makeTempDirSync({ prefix: "cloud-info-test-" });
  try {
    assert.deepEqual(cloudInfo(inspectDir(dir)), { agent: false, ssh_port: null });
    Deno.mkdirSync(`${dir}/templates`);
    Deno.writeTextFileSync(`${dir}/templates/guest-agent`, "");
    writePorts(dir, [{ ...SSH, guestPort: 80 }, { ...SSH, hostPort: 2230 }]);
    assert.deepEqual(cloudInfo(inspectDir(dir)), { agent: true, ssh_port: 2230 });
    Deno.writeTextFileSync(`${dir}/ports`, "nonsense\n");
    assert.deepEqual(cloudInfo(inspectDir(dir)), { agent: true, ssh_port: null });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("forwardCarrier: a template with $VM_HOSTFWD, QEMU's default NIC, or a network of its own", () => {
  const plain = new Map([["drive", "-drive file=./drive.qcow2\n"], ["mem", "-m 2G\n"]]);
  assert.deepEqual(forwardCarrier(plain), { carrier: "default-nic" });
  const fwd = new Map([...plain, ["net-user-fwd", netTemplate("52:54:00:aa:bb:cc")]]);
  assert.deepEqual(forwardCarrier(fwd), { carrier: "template", template: "net-user-fwd" });
  const added = new Map([...plain, ["net-user-fwd", DEFAULT_NIC_TEMPLATE]]);
  assert.deepEqual(forwardCarrier(added), { carrier: "template", template: "net-user-fwd" });
  for (const own of ["-nic user,model=virtio-net-pci", "--netdev tap,id=t0", "-nodefaults"]) {
    assert.deepEqual(forwardCarrier(new Map([...plain, ["net", `# mine\n${own}\n`]])), {
      carrier: "own-network",
      template: "net",
    });
  }
  // A comment naming the variable carries nothing.
  const comment = new Map([...plain, ["x", "# $VM_HOSTFWD\n"]]);
  assert.deepEqual(forwardCarrier(comment), { carrier: "default-nic" });
  // QEMU's default NIC on netdev vmnet with the forwards.
  assert.deepEqual(
    parseTemplate(DEFAULT_NIC_TEMPLATE, "t", { VM_HOSTFWD: hostfwdOptions([SSH]) }),
    [
      "-nic",
      "user,id=vmnet,hostfwd=tcp:127.0.0.1:2222-:22",
    ],
  );
});
