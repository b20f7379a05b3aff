/**
 * `vm vnc <vm> [--print]`: the screen of a VM made with the `vnc` template,
 * whose QEMU serves VNC on the unix socket `supervise/vnc` (private to its
 * user, like the monitor). On a desktop with a VNC viewer that opens unix
 * sockets (remote-viewer, TigerVNC's vncviewer) it runs it; otherwise it
 * prints how to reach the socket from a laptop (`ssh -L`) or as a local TCP
 * port (socat). Reads `<vm>/supervise/{vnc,status}`.
 * @module
 */

import { CheckFailedError } from "../../lib/errors.ts";
import { join } from "../../lib/os/path.ts";
import { lstatIfExists, readTextIfExists } from "../../lib/os/fs.ts";
import { readStatus } from "../../lib/runit/status.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { F } from "../../lib/layout.ts";
import { type CommandSpec, defineCommand, VM } from "../core/command.ts";
import { findExecutable } from "../../lib/os/exec.ts";
import { print, printErr } from "../core/output.ts";
import { optFlag } from "../core/parse.ts";

/** The row of `vm vnc`. */
const VNC_ROW = {
  name: "vnc",
  summary: "show the VM's screen (template vnc): run a viewer, or print how to reach it",
  args: [VM],
  options: [{ name: "print", help: "print the recipe even when a viewer could be run" }],
  help: [
    "the vnc template (a default) makes QEMU serve VNC on the unix socket supervise/vnc,",
    "which only the VM's user can open. With DISPLAY set and remote-viewer or TigerVNC's",
    "vncviewer installed, that viewer is run on it; otherwise the ssh -L and socat command",
    "lines that reach it from a laptop or as a local TCP port are printed",
    "exit: 0 ok, 1 the VM is not running or has no VNC socket, 100 usage",
  ],
} as const satisfies CommandSpec;

/** The local port the recipe uses (VNC display :0). */
const VNC_PORT = 5900;

/** The recipe `vm vnc` prints: the socket, then ssh -L and socat lines. Pure. */
export function vncRecipe(name: string, socket: string, user: string, host: string): string {
  return [
    `The screen of "${name}" is served by VNC on the unix socket`,
    `  ${socket}`,
    "From another machine, forward a local port to it over ssh, then view localhost:5900:",
    `  ssh -N -L ${VNC_PORT}:${socket} ${user}@${host}`,
    `  vncviewer localhost:${VNC_PORT}`,
    "On this machine, as a TCP port on 127.0.0.1 only (any VNC viewer):",
    `  socat TCP-LISTEN:${VNC_PORT},bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:${socket}`,
  ].join("\n");
}

/** A viewer that opens a unix socket: its program and arguments. Pure. */
const VIEWERS: readonly { program: string; args: (socket: string) => string[] }[] = [
  { program: "remote-viewer", args: (s) => [`vnc+unix://${s}`] },
  { program: "vncviewer", args: (s) => [s] },
];

/** The first of VIEWERS found in `path` (a PATH value), or undefined. */
function findViewer(path: string): (typeof VIEWERS)[number] | undefined {
  return VIEWERS.find((v) => findExecutable(v.program, path, "/") !== undefined);
}

/** This user's login name: $USER, $LOGNAME, else from /etc/passwd by uid. */
function userName(env: Record<string, string>): string {
  const named = env.USER ?? env.LOGNAME;
  if (named !== undefined && named !== "") return named;
  const uid = String(Deno.uid());
  const line = (readTextIfExists("/etc/passwd") ?? "").split("\n")
    .find((l) => l.split(":")[2] === uid);
  return line?.split(":")[0] ?? "you";
}

/** The VNC socket of VM `name`, after checking that it runs and has one. */
function vncSocket(name: string, dir: string): string {
  const socket = join(dir, F.vnc);
  if (lstatIfExists(socket)?.isSocket === true) return socket;
  if (readStatus(dir)?.state !== "run") {
    throw new CheckFailedError(`VM "${name}" is not running; start it with "vm start ${name}"`);
  }
  throw new CheckFailedError(
    `VM "${name}" has no VNC socket ("${F.vnc}"); add the vnc template ` +
      `(cp "$VMDIR/.default/templates/vnc" "${dir}/templates/") and restart it with ` +
      `"vm restart ${name}"`,
  );
}

/** `vm vnc <vm> [--print]`. */
export const vnc = defineCommand(VNC_ROW, {
  async run(inv) {
    const name = inv.args[0] ?? "";
    const socket = vncSocket(name, requireVm(loadConfig().vmdir, name));
    const env = Deno.env.toObject();
    const desktop = (env.DISPLAY ?? env.WAYLAND_DISPLAY ?? "") !== "";
    const viewer = !optFlag(inv, "print") && desktop ? findViewer(env.PATH ?? "") : undefined;
    if (viewer === undefined) {
      print(vncRecipe(name, socket, userName(env), Deno.hostname()));
      return 0;
    }
    const args = viewer.args(socket);
    printErr(`Running ${viewer.program} ${args.join(" ")}`);
    const status = await new Deno.Command(viewer.program, { args, stdin: "inherit" }).spawn()
      .status;
    return status.code;
  },
});
