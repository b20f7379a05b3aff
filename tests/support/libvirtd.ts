/**
 * Test support: a libvirt daemon for one test, started by hand (no systemd
 * here): `virtlogd` (unless one already answers on its fixed socket; QEMU's
 * output goes through it) and `libvirtd` with its own socket directory, so
 * the test talks to it alone (`qemu:///system?socket=…`). libvirt's system
 * paths (/run/libvirt/qemu, /etc/libvirt/qemu) are shared with any other
 * libvirtd: domain names must be unique. Needs the Debian packages
 * libvirt-daemon-system and libvirt-clients. `stop` destroys and undefines
 * the domains the test named, then stops both daemons by PID. Not a test file.
 * @module
 */

import { join } from "node:path";
import { waitFor } from "./harness.ts";

const VIRTLOGD_SOCK = "/run/libvirt/virtlogd-sock";

/** Whether something accepts connections on the unix socket `path`. */
async function answers(path: string): Promise<boolean> {
  try {
    const c = await Deno.connect({ transport: "unix", path });
    c.close();
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.ConnectionRefused) {
      return false;
    }
    throw e;
  }
}

function spawn(cmd: string, args: string[]): Deno.ChildProcess {
  try {
    return new Deno.Command(cmd, { args, stdin: "null", stdout: "null", stderr: "null" }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`${cmd} is missing: apt-get install libvirt-daemon-system libvirt-clients`);
    }
    throw e;
  }
}

/** A running libvirtd (and virtlogd) of this test. */
export class Libvirtd {
  /** The connection URI for virsh -c / --connect. */
  readonly uri: string;
  /** Domains to destroy and undefine at stop. */
  readonly domains: string[] = [];
  private constructor(
    readonly dir: string,
    private readonly procs: Deno.ChildProcess[],
  ) {
    this.uri = `qemu:///system?socket=${join(dir, "sock", "libvirt-sock")}`;
  }

  /** Starts the daemons with their files in `dir` (created). */
  static async start(dir: string): Promise<Libvirtd> {
    Deno.mkdirSync(join(dir, "sock"), { recursive: true });
    const conf = join(dir, "libvirtd.conf");
    Deno.writeTextFileSync(
      conf,
      `unix_sock_dir = "${join(dir, "sock")}"\nunix_sock_rw_perms = "0700"\n` +
        `auth_unix_rw = "none"\nauth_unix_ro = "none"\n` +
        `log_outputs = "3:file:${join(dir, "libvirtd.log")}"\n`,
    );
    const procs: Deno.ChildProcess[] = [];
    const d = new Libvirtd(dir, procs);
    if (!await answers(VIRTLOGD_SOCK)) {
      procs.push(spawn("virtlogd", ["--pid-file", join(dir, "virtlogd.pid")]));
      if (!await waitFor(() => answers(VIRTLOGD_SOCK), 10_000)) {
        await d.stop();
        throw new Error("virtlogd did not come up");
      }
    }
    procs.push(spawn("libvirtd", ["--config", conf, "--pid-file", join(dir, "libvirtd.pid")]));
    const up = await waitFor(async () => (await d.virsh(["version"])).code === 0, 20_000);
    if (!up) {
      await d.stop();
      throw new Error(
        `libvirtd did not come up: ${Deno.readTextFileSync(join(dir, "libvirtd.log"))}`,
      );
    }
    return d;
  }

  /** Runs `virsh -c <uri> <args>`. */
  async virsh(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const out = await new Deno.Command("virsh", { args: ["-c", this.uri, ...args], stdin: "null" })
      .output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  }

  /** The state `virsh domstate` gives ("running", "shut off"…). */
  async state(domain: string): Promise<string> {
    return (await this.virsh(["domstate", domain])).stdout.trim();
  }

  /** Destroys and undefines the test's domains, then stops the daemons by PID (TERM, then KILL). */
  async stop(): Promise<void> {
    for (const dom of this.domains) {
      await this.virsh(["destroy", dom]);
      await this.virsh(["undefine", dom]);
      try {
        Deno.removeSync(`/var/log/libvirt/qemu/${dom}.log`);
      } catch { /* no log written */ }
    }
    for (const p of [...this.procs].reverse()) {
      try {
        p.kill("SIGTERM");
      } catch { /* already gone */ }
      if (!await exitsWithin(p, 10_000)) {
        try {
          p.kill("SIGKILL");
        } catch { /* gone meanwhile */ }
        await p.status;
      }
    }
  }
}

/** Whether `p` exits within `ms` (the timer is cleared either way). */
async function exitsWithin(p: Deno.ChildProcess, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((r) => timer = setTimeout(() => r(false), ms));
  const done = await Promise.race([p.status.then(() => true as const), late]);
  clearTimeout(timer);
  return done;
}
