// What `vm start --ssh` sees of a booting guest and says
// about it: guest text made safe, the VGA text screen, the stages, the
// failure's words and next step; the SSH port looked at through listeners on
// 127.0.0.1 (a banner, a close, silence, nothing listening).

import assert from "node:assert/strict";
import { lastLine, MAX_SHOWN, showable } from "../../lib/text/guest_text.ts";
import { isTextMode, ppmSize, vgaTextLines } from "../../lib/qemu/screen.ts";
import { type BootSeen, nextStep, seenText, stageOf } from "../../lib/actions/boot_watch.ts";
import { probeSshPort, SshWaitTimeout, waitForSsh } from "../../lib/ssh/ssh_ready.ts";
import { bootStageText } from "../../cli/commands/start_ssh.ts";

Deno.test("guest text: escapes and control characters removed, \\r redraws kept last, capped", () => {
  assert.equal(
    showable("\x1b[1;32m[  OK  ]\x1b[0m Started ssh.service"),
    "[  OK  ] Started ssh.service",
  );
  assert.equal(showable("progress 10%\rprogress 99%\r"), "progress 99%");
  assert.equal(showable("a\x07b\x1b]0;title\x07c\x9bd\udc80e"), "abcde");
  assert.equal(showable("x".repeat(500)).length, MAX_SHOWN);
  assert.equal(lastLine("one\r\ntwo\r\n\x1b[2J\r\n  \n"), "two");
  assert.equal(lastLine("\x1b[H\x1b[J"), undefined);
});

Deno.test("screen: a PPM's size, text mode or not, VGA cells to lines", () => {
  const enc = new TextEncoder();
  assert.deepEqual(ppmSize(enc.encode("P6\n720 400\n255\n\0\0")), { width: 720, height: 400 });
  assert.deepEqual(ppmSize(enc.encode("P6\n# QEMU\n1024 768\n255\n")), {
    width: 1024,
    height: 768,
  });
  assert.equal(ppmSize(enc.encode("P5\n1 1\n255\n")), undefined);
  assert.equal(isTextMode({ width: 720, height: 400 }), true);
  assert.equal(isTextMode({ width: 640, height: 400 }), true);
  assert.equal(isTextMode({ width: 1024, height: 768 }), false);
  const cells = new Uint8Array(4000);
  for (let i = 0; i < 2000; i++) cells.set([0x20, 0x07], i * 2);
  const put = (row: number, text: string) =>
    [...text].forEach((c, i) => cells[(row * 80 + i) * 2] = c.charCodeAt(0));
  put(0, "SeaBIOS (version 1.16.2)");
  put(3, "No bootable device.");
  put(4, "\x1b[31m\xc4\xc4");
  assert.deepEqual(vgaTextLines(cells), [
    "SeaBIOS (version 1.16.2)",
    "No bootable device.",
    "[31m",
  ]);
});

const seen = (over: Partial<BootSeen> = {}): BootSeen => ({
  stage: "firmware",
  agent: false,
  ssh: {},
  ...over,
});

Deno.test("stages: QEMU up, the guest seen, port 22, sshd; their words on the wait line", () => {
  assert.equal(stageOf(seen()), "firmware");
  assert.equal(stageOf(seen({ ssh: { probe: { kind: "silent" } } })), "firmware");
  assert.equal(stageOf(seen({ console: { bytes: 10, last: "Loading" } })), "guest");
  assert.equal(stageOf(seen({ agent: true })), "guest");
  assert.equal(stageOf(seen({ agent: true, ssh: { probe: { kind: "closed" } } })), "port");
  assert.equal(stageOf(seen({ ssh: { probe: { kind: "banner", banner: "SSH-2.0-x" } } })), "login");
  assert.equal(bootStageText(seen({ stage: "qemu" })), "starting QEMU");
  assert.equal(bootStageText(seen()), "QEMU up; waiting for the guest");
  assert.equal(
    bootStageText(
      seen({ screen: { kind: "text", lines: ["SeaBIOS", "Booting from Hard Disk..."] } }),
    ),
    'QEMU up; waiting for the guest; its screen: "Booting from Hard Disk..."',
  );
  assert.equal(
    bootStageText(
      seen({ stage: "guest", console: { bytes: 9, last: "Cloud-init v. 22.4.2 running" } }),
    ),
    'the guest is booting: "Cloud-init v. 22.4.2 running"',
  );
  assert.equal(
    bootStageText(seen({ stage: "port" })),
    "the guest's network is up; waiting for sshd on port 22",
  );
  const banner = { kind: "banner" as const, banner: "SSH-2.0-OpenSSH_9.2p1" };
  assert.equal(
    bootStageText(seen({ stage: "login", ssh: { probe: banner } })),
    "sshd answers (SSH-2.0-OpenSSH_9.2p1); logging in",
  );
  assert.equal(
    bootStageText(seen({ stage: "login", ssh: { probe: banner, sshSaid: "Permission denied" } })),
    "sshd answers; the login failed so far (ssh: Permission denied)",
  );
});

Deno.test("a failed wait: what was seen last, and the one next step", () => {
  const ways = { vnc: true, console: true };
  assert.equal(
    seenText(
      seen({ console: { bytes: 0 }, screen: { kind: "text", lines: ["No bootable device."] } }),
      2223,
      "web",
    ),
    'nothing answered on its port 22, no output on its serial console, its screen: "No bootable device."',
  );
  assert.equal(
    nextStep("web", seen({ console: { bytes: 0 } }), ways),
    'see its screen with "vm vnc web"',
  );
  const talking = seen({ console: { bytes: 99, last: "Cloud-init finished" } });
  assert.equal(
    seenText(talking, 2223, "web"),
    `nothing answered on its port 22, its serial console's last line: "Cloud-init finished"`,
  );
  assert.equal(nextStep("web", talking, ways), 'watch its serial console with "vm console web"');
  assert.equal(nextStep("web", seen(), { vnc: false, console: false }), 'see "vm log web"');
  assert.equal(
    seenText(seen({ ssh: { probe: { kind: "refused" } }, agent: true }), 2223, "web"),
    'nothing listens on 127.0.0.1:2223 (QEMU forwards nothing there: "vm args web"), ' +
      "its guest agent answers",
  );
  assert.equal(
    seenText(
      seen({
        ssh: { probe: { kind: "banner", banner: "SSH-2.0-x" }, sshSaid: "Permission denied" },
      }),
      2223,
      "web",
    ),
    'sshd answered ("SSH-2.0-x") but the login failed (ssh: Permission denied)',
  );
  assert.equal(
    seenText(seen({ screen: { kind: "graphics", width: 1024, height: 768 } }), 1, "web"),
    "nothing answered on its port 22, its screen in graphics mode (1024x768)",
  );
});

/** A listener on 127.0.0.1 that does `serve` with each connection; its port. */
function listen(serve: (c: Deno.Conn) => Promise<void>): { port: number; close(): void } {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const c of l) {
      conns.push(c);
      serve(c).catch(() => {}); // the client went: nothing to serve
    }
  })().catch(() => {}); // closed
  return {
    port: (l.addr as Deno.NetAddr).port,
    close() {
      l.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed by serve */ }
      }
    },
  };
}

Deno.test("probeSshPort: sshd's banner, a close, silence, nothing listening", async () => {
  const sshd = listen(async (c) => {
    await c.write(new TextEncoder().encode("SSH-2.0-OpenSSH_9.2p1 Debian\x1b[2J\r\n"));
  });
  const closer = listen((c) => Promise.resolve(c.close()));
  const silent = listen(() => new Promise((r) => setTimeout(r, 1000)));
  try {
    assert.deepEqual(await probeSshPort(sshd.port), {
      kind: "banner",
      banner: "SSH-2.0-OpenSSH_9.2p1 Debian",
    });
    assert.deepEqual(await probeSshPort(closer.port), { kind: "closed" });
    const t0 = performance.now();
    assert.deepEqual(await probeSshPort(silent.port, 300), { kind: "silent" });
    assert.ok(performance.now() - t0 < 1000);
  } finally {
    sshd.close();
    closer.close();
    silent.close();
  }
  await new Promise((r) => setTimeout(r, 200)); // the listener's close takes effect
  assert.deepEqual(await probeSshPort(closer.port), { kind: "refused" });
});

Deno.test("waitForSsh: logs in only once sshd's banner came; a failed login is what it saw last", async () => {
  let conns = 0;
  const fake = listen(async (c) => {
    conns++;
    await c.write(new TextEncoder().encode("SSH-2.0-fake\r\n"));
    c.close();
  });
  const heard: string[] = [];
  try {
    const target = {
      name: "web",
      port: fake.port,
      user: "vm",
      key: "/nonexistent/id_ed25519",
      knownHosts: "/nonexistent/known_hosts",
    };
    const e = await waitForSsh(target, 2500, {
      onSeen: (s) => heard.push(s.probe?.kind ?? ""),
    }).catch((x) => x);
    assert.ok(e instanceof SshWaitTimeout, String(e));
    assert.deepEqual(e.seen.probe, { kind: "banner", banner: "SSH-2.0-fake" });
    assert.ok((e.seen.sshSaid ?? "") !== "", "ssh's complaint is kept");
    assert.match(e.message, /^VM "web" did not answer SSH on 127\.0\.0\.1:\d+ within 3 s \(ssh: /);
    assert.ok(heard.includes("banner"), heard.join());
    assert.ok(conns >= 2, "the look at the port, then ssh");
  } finally {
    fake.close();
  }
});
