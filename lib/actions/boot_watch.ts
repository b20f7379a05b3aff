/**
 * What `vm start --ssh` sees of a booting guest, stage by stage: QEMU up,
 * then the guest seen (output on its serial console, its agent answering),
 * its port 22 answering, sshd's banner, the login. The serial console is
 * listened to when the VM has one and no `vm console` holds it
 * (lib/qemu/console_tail.ts); the agent is asked every few seconds; the
 * screen is read (lib/qemu/screen.ts) while nothing else shows life, and
 * when the firmware says "No bootable device." the wait ends at once. The
 * messages of a failed wait say what was seen last and the one next step.
 * Connects to `<vm>/supervise/{console,agent,qmp}`.
 * @module
 */

import { join } from "../os/path.ts";
import { exists } from "../os/fs.ts";
import { StartFailedError, VmError } from "../errors.ts";
import { F } from "../layout.ts";
import { ConsoleTail } from "../qemu/console_tail.ts";
import { GuestAgent } from "../qemu/guest_agent.ts";
import { type ScreenText, screenText } from "../qemu/screen.ts";
import type { SshSeen } from "../ssh/ssh_ready.ts";

/** How far a boot got: QEMU starting, QEMU up (firmware), the guest seen, port 22, sshd. */
export type BootStage = "qemu" | "firmware" | "guest" | "port" | "login";

/** What was seen of a booting guest. */
export interface BootSeen {
  stage: BootStage;
  /** Its serial console, when listened to: bytes written, and the last line. */
  console?: { bytes: number; last?: string };
  /** Its guest agent answered. */
  agent: boolean;
  /** Its screen, when looked at. */
  screen?: ScreenText;
  /** The SSH port and login. */
  ssh: SshSeen;
}

/** How often the agent is asked and the screen read while nothing else shows life (ms). */
const LOOK_MS = 5000;
/** How long one of those looks may take (ms). */
const LOOK_TIMEOUT_MS = 1500;
/** What SeaBIOS shows when nothing it tried boots. */
const NO_BOOT = /no bootable device/i;

/** The stage `seen` shows, once QEMU is up. Pure. */
export function stageOf(seen: BootSeen): BootStage {
  const probe = seen.ssh.probe?.kind;
  if (probe === "banner") return "login";
  if (probe === "closed") return "port";
  return (seen.console?.bytes ?? 0) > 0 || seen.agent ? "guest" : "firmware";
}

/** The sockets QEMU made for the VM: which ways there are to look at it. */
export interface Ways {
  vnc: boolean;
  console: boolean;
}

/** The one next step that helps after a failed boot (`vm console`, `vm vnc` or `vm log`). Pure. */
export function nextStep(name: string, seen: BootSeen, ways: Ways): string {
  if (ways.console && (seen.console?.bytes ?? 0) > 0) {
    return `watch its serial console with "vm console ${name}"`;
  }
  if (ways.vnc) return `see its screen with "vm vnc ${name}"`;
  return `see "vm log ${name}"`;
}

/** What was seen last, in words: the SSH port, the console, the agent, the screen. Pure. */
export function seenText(seen: BootSeen, port: number, name: string): string {
  const p = seen.ssh.probe;
  const parts = [
    p === undefined || p.kind === "silent"
      ? "nothing answered on its port 22"
      : p.kind === "refused"
      ? `nothing listens on 127.0.0.1:${port} (QEMU forwards nothing there: "vm args ${name}")`
      : p.kind === "closed"
      ? "its port 22 refused connections (no sshd running)"
      : `sshd answered ("${p.banner}") but the login failed` +
        (seen.ssh.sshSaid ? ` (ssh: ${seen.ssh.sshSaid})` : ""),
  ];
  const c = seen.console;
  if (c !== undefined) {
    parts.push(
      c.bytes === 0 || c.last === undefined
        ? "no output on its serial console"
        : `its serial console's last line: "${c.last}"`,
    );
  }
  if (seen.agent) parts.push("its guest agent answers");
  const s = seen.screen;
  if (s?.kind === "graphics") parts.push(`its screen in graphics mode (${s.width}x${s.height})`);
  else if (s !== undefined && s.lines.length > 0) parts.push(`its screen: "${s.lines.at(-1)}"`);
  return parts.join(", ");
}

/** Watches a booting VM while `vm start --ssh` waits for SSH; see the module doc. */
export class BootWatch {
  readonly seen: BootSeen = { stage: "qemu", agent: false, ssh: {} };
  #tail: ConsoleTail | undefined;
  #up = false;
  #lastLook = -Infinity;
  readonly #t0 = performance.now();

  constructor(readonly dir: string, readonly name: string) {}

  /** The ways to look at the running QEMU. Reads `<dir>/supervise/`. */
  ways(): Ways {
    return { vnc: exists(join(this.dir, F.vnc)), console: exists(join(this.dir, F.console)) };
  }

  /** QEMU is up: the guest's stage begins, its serial console is listened to. */
  async qemuUp(): Promise<void> {
    this.#up = true;
    this.#tail = await ConsoleTail.open(this.dir);
    this.#update();
  }

  /** What the wait for SSH saw. */
  onSsh(ssh: SshSeen): void {
    this.seen.ssh = { ...ssh };
    this.#update();
  }

  /**
   * Between two looks at the SSH port: asks the agent, reads the screen
   * while nothing else shows life. Throws StartFailedError when the
   * firmware says no device boots.
   */
  async look(): Promise<void> {
    this.#update();
    if (performance.now() - this.#lastLook < LOOK_MS) return;
    this.#lastLook = performance.now();
    if (!this.seen.agent && exists(join(this.dir, F.agent))) {
      this.seen.agent = await agentAnswers(this.dir, this.name);
    }
    if (this.seen.stage !== "firmware") return;
    this.seen.screen = await screenText(this.dir, LOOK_TIMEOUT_MS);
    const s = this.seen.screen;
    const line = s?.kind === "text" ? s.lines.find((l) => NO_BOOT.test(l)) : undefined;
    if (line !== undefined) {
      const after = ((performance.now() - this.#t0) / 1000).toFixed(0);
      throw new StartFailedError(
        `VM "${this.name}" cannot boot: its screen says "${line}" after ${after} s (the ` +
          `firmware found nothing to boot on its disks, CD-ROM or network); ` +
          nextStep(this.name, this.seen, this.ways()),
      );
    }
  }

  /**
   * The last look, for the message of a failed wait: the screen read once
   * more, unless the serial console says more (the screen keeps the
   * firmware's words while a kernel talks on the console).
   */
  async lastLook(): Promise<void> {
    this.#update();
    if ((this.seen.console?.bytes ?? 0) > 0) delete this.seen.screen;
    else this.seen.screen = await screenText(this.dir, LOOK_TIMEOUT_MS) ?? this.seen.screen;
  }

  /** Stops listening to the console. */
  close(): void {
    this.#update();
    this.#tail?.close();
    this.#tail = undefined;
  }

  #update(): void {
    if (!this.#up) return;
    const t = this.#tail;
    if (t !== undefined) this.seen.console = { bytes: t.bytes, ...lastOf(t) };
    this.seen.stage = stageOf(this.seen);
  }
}

function lastOf(t: ConsoleTail): { last?: string } {
  const last = t.lastLine();
  return last === undefined ? {} : { last };
}

/** Whether the guest agent of the VM in `dir` answers now. Connects to `supervise/agent`. */
async function agentAnswers(dir: string, name: string): Promise<boolean> {
  try {
    (await GuestAgent.connect(dir, name, LOOK_TIMEOUT_MS)).close();
    return true;
  } catch (e) {
    if (e instanceof VmError) return false; // no agent answers (yet)
    throw e;
  }
}
