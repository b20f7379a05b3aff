/**
 * Test support: a temp machine for ./install.sh and tests/support/test_deps.ts
 * without a real package manager. Its `bin` holds links to the few real tools
 * those scripts use (so runit, QEMU and the tests' packages look missing) and
 * stub `apt-get` (or `pacman`, `xbps-install`), `sudo` and `id` scripts that
 * append their arguments to a log; apt's list directory is a temp dir too.
 * Not a test file.
 * @module
 */

import { join } from "node:path";
import { quoteWords } from "../../lib/text/shell_words.ts";
import { type Output, runPiped } from "./piped.ts";

/** Real tools the scripts run, linked into the fake `bin`. */
const TOOLS = [
  "cat",
  "chmod",
  "cmp",
  "cp",
  "diff",
  "dirname",
  "find",
  "head",
  "id",
  "mkdir",
  "mv",
  "rm",
  "sed",
  "sh",
  "timeout",
  "true",
  "uname",
];

/** What the fake machine has. */
export interface FakeSystemOptions {
  /** The uid the stub `id -u` prints; default: the real `id`. */
  uid?: number;
  /**
   * Whether a stub `sudo` (which runs its command) is on PATH; "denied": one
   * that lets the user do nothing (`sudo -n -v` says so; anything else asks
   * for a password three times and fails, as sudo does for a wrong one).
   */
  sudo?: boolean | "denied";
  /** Package manager stub; default apt-get. */
  manager?: "apt-get" | "pacman" | "xbps-install";
  /** apt's lists: none, or updated just now. Default "fresh". */
  lists?: "empty" | "fresh";
  /** No deno on PATH, but a stub `npm` whose `install -g deno` links the real one into `bin`. */
  denoFromNpm?: boolean;
}

/** Output of one script run. */
export type ScriptRun = Output;

/** A temp HOME, a PATH of real tools and stubs, and the stubs' log. */
export class FakeSystem {
  /** The temp dir; also HOME. */
  readonly root: string;
  /** The only directory on PATH. */
  readonly bin: string;
  /** Where the stubs append "<name> <args>" lines. */
  readonly log: string;
  /** VM_APT_LISTS: apt's list directory for setup/packages.sh. */
  readonly lists: string;

  private constructor(root: string) {
    this.root = root;
    this.bin = join(root, "bin");
    this.log = join(root, "calls.log");
    this.lists = join(root, "apt-lists");
  }

  /** Creates the temp machine (remove it with {@link remove}). */
  static create(opts: FakeSystemOptions = {}): FakeSystem {
    const f = new FakeSystem(Deno.makeTempDirSync({ prefix: "vm-fake-system-" }));
    Deno.mkdirSync(f.bin);
    Deno.mkdirSync(f.lists);
    Deno.writeTextFileSync(f.log, "");
    for (const tool of TOOLS) Deno.symlinkSync(which(tool), join(f.bin, tool));
    const logLine = `echo "\${0##*/} $*" >>'${f.log}'`;
    if (opts.denoFromNpm) {
      f.stub("npm", `${logLine}\nexec ln -s '${Deno.execPath()}' '${join(f.bin, "deno")}'\n`);
      Deno.symlinkSync(which("ln"), join(f.bin, "ln"));
    } else {
      Deno.symlinkSync(Deno.execPath(), join(f.bin, "deno"));
    }
    f.stub(opts.manager ?? "apt-get", `${logLine}\n`);
    if (opts.sudo === "denied") {
      f.stub(
        "sudo",
        `${logLine}\nif [ "$*" = "-n -v" ]; then\n` +
          `  echo "Sorry, user u may not run sudo on host." >&2; exit 1\nfi\n` +
          `for i in 1 2 3; do printf '[sudo] password for u: ' >&2; read -r p; done\n` +
          `echo "sudo: 3 incorrect password attempts" >&2; exit 1\n`,
      );
    } else if (opts.sudo) {
      f.stub(
        "sudo",
        `${logLine}\n[ "$*" = "-n -v" ] && exit 0\n[ "$1" = -n ] && shift\nexec "$@"\n`,
      );
    }
    if (opts.uid !== undefined) {
      Deno.removeSync(join(f.bin, "id"));
      f.stub("id", `[ "$1" = -u ] && { echo ${opts.uid}; exit 0; }\nexec ${which("id")} "$@"\n`);
    }
    if (opts.lists !== "empty") {
      Deno.writeTextFileSync(join(f.lists, "deb_dists_stable_main_binary-amd64_Packages"), "");
    }
    return f;
  }

  /** Writes an executable stub script `bin/<name>` with `body`. */
  stub(name: string, body: string): void {
    Deno.writeTextFileSync(join(this.bin, name), `#!/bin/sh\n${body}`, { mode: 0o755 });
  }

  /** The environment for a script run: this PATH, HOME and apt list dir, plus `extra`. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: this.bin,
      HOME: this.root,
      SHELL: "/bin/sh",
      VM_APT_LISTS: this.lists,
      NO_COLOR: "1",
      ...extra,
    };
  }

  /** The stubs' calls so far, one "<name> <args>" string each. */
  calls(): string[] {
    return Deno.readTextFileSync(this.log).split("\n").filter((l) => l !== "");
  }

  /**
   * Runs `cmd args` with {@link env} and `extra`; stdin is `input` through a
   * pipe, or, with `terminal`, a pseudo-terminal (script(1)) fed `input`.
   */
  run(
    cmd: string,
    args: string[],
    opts: { extra?: Record<string, string>; input?: string; terminal?: boolean } = {},
  ): Promise<ScriptRun> {
    const env = this.env(opts.extra);
    if (!opts.terminal) return runPiped(cmd, args, env, opts.input);
    return runPiped(
      which("script"),
      ["-qec", quoteWords([cmd, ...args]), "/dev/null"],
      env,
      opts.input,
    );
  }

  /** Removes the temp dir. */
  remove(): void {
    Deno.removeSync(this.root, { recursive: true });
  }
}

/** The absolute path of a real tool in /usr/bin or /bin. */
function which(tool: string): string {
  for (const dir of ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]) {
    try {
      Deno.statSync(join(dir, tool));
      return join(dir, tool);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  throw new Error(`fake system: no ${tool} in /usr/bin or /bin`);
}
