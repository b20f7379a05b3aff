// Templates and stops: template bytes that are not UTF-8 reach QEMU
// exactly; a word that expands to nothing where an option's value belongs is
// a template error naming file:line; `vm stop` of a VM whose QEMU never
// stays up says so; a stop cut short by --timeout is logged as "quit after N s".
// QEMU runs without a guest (`-machine none`, deaf to the power button).

import assert from "node:assert/strict";
import { join } from "node:path";
import { isSupervised } from "../../lib/runit/status.ts";
import { splitCmdline } from "../../lib/os/proc.ts";
import { qemuUp, readOr, test, type TestEnv, waitFor } from "../support/harness.ts";

/** Makes VM `name` running `-machine none` plus `extra` (bytes) as template `x`. */
async function bareVm(t: TestEnv, name: string, extra: Uint8Array, wait = 1): Promise<string> {
  const r = await t.vm(["make", name, "--disk", "1M", "--wait", String(wait), "--log", "-y"], {
    env: { VMCONF_DEFAULT_TEMPLATES: "display-none" },
  });
  assert.equal(r.code, 0, r.stderr);
  const dir = t.dir(name);
  Deno.writeTextFileSync(join(dir, "templates", "none"), "-machine none -nodefaults\n");
  Deno.writeFileSync(join(dir, "templates", "x"), extra);
  return dir;
}

const text = (s: string) => new TextEncoder().encode(s);
const cat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

/** Starts runsvdir and waits until the VM in `dir` is supervised. */
async function supervise(t: TestEnv, dir: string): Promise<void> {
  t.startRunsvdir();
  assert.ok(await waitFor(() => isSupervised(dir), 10_000), "no runsv");
}

/** Whether `hay` holds the bytes `needle`. */
function holds(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

test("template bytes that are not UTF-8 reach QEMU (and vm args) unchanged", async (t) => {
  const name = cat(text("caf"), Uint8Array.of(0xe9), text("-"), Uint8Array.of(0xff, 0xfe));
  const dir = await bareVm(t, "b", cat(text("-name '"), name, text("'\n")));
  const args = await new Deno.Command(t.vmExe, { args: ["args", "b", "--lines"], env: t.env })
    .output();
  assert.equal(args.code, 0, new TextDecoder().decode(args.stderr));
  assert.ok(holds(args.stdout, cat(text("\n'"), name, text("'\n"))), "vm args prints the bytes");
  assert.ok(!holds(args.stdout, Uint8Array.of(0xef, 0xbf, 0xbd)), "no U+FFFD");
  await supervise(t, dir);
  await t.vm(["sv", "up", "b"]);
  const qemu = await qemuUp(dir);
  const argv = Deno.readFileSync(`/proc/${qemu}/cmdline`);
  assert.ok(holds(argv, cat(text("-name\0"), name, Uint8Array.of(0))), "QEMU got the bytes");
  assert.ok(!holds(argv, Uint8Array.of(0xef, 0xbf, 0xbd)), "no U+FFFD");
  assert.ok(splitCmdline(new TextDecoder().decode(argv)).includes("-machine"));
});

test("-name $UNSET is a template error at its file:line, not shifted arguments", async (t) => {
  await bareVm(t, "e", text("-m 64M\n-name $UNSET -S\n"));
  const r = await t.vm(["args", "e"]);
  assert.equal(r.code, 100, r.stdout);
  assert.equal(
    r.stderr,
    `vm: fatal: templates/x:2: "$UNSET" expands to nothing, so "-name" would take the next ` +
      `word as its value; set what it names, or quote it ("$UNSET") for an empty value\n`,
  );
});

test("vm stop of a VM whose QEMU keeps failing says it was not running", async (t) => {
  const dir = await bareVm(t, "f", text("-no-such-option\n"));
  await supervise(t, dir);
  await t.vm(["sv", "up", "f"]);
  const backoff = async () =>
    JSON.parse((await t.vm(["list", "--json"])).stdout)[0].state === "backoff";
  assert.ok(await waitFor(backoff, 15_000), "no backoff");
  const stop = await t.vm(["stop", "f"]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(stop.stdout, `"f" was not running; stopped its restart\n`);
  const [state] = JSON.parse((await t.vm(["list", "--json"])).stdout);
  assert.deepEqual([state.state, state.want], ["down", "down"]);
});

test("a stop cut short by --timeout is logged as QEMU quit after N s", async (t) => {
  const dir = await bareVm(t, "q", new Uint8Array(), 30);
  await supervise(t, dir);
  await t.vm(["sv", "up", "q"]);
  await qemuUp(dir);
  const stop = await t.vm(["stop", "q", "--timeout", "2"]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.match(
    stop.stdout,
    /not graceful, not down within --timeout 2 s: QEMU quit through its monitor/,
  );
  const log = join(dir, "log", "main", "current");
  const quit = /: stop: QEMU quit after ([0-9.]+) s; the guest had not powered off/;
  assert.ok(await waitFor(() => quit.test(readOr(log)), 5000), readOr(log));
  const s = Number(quit.exec(readOr(log))?.[1]);
  assert.ok(s >= 1.5 && s < 6, `${s} s`);
  assert.ok(!readOr(log).includes("powered off in"), readOr(log));
});
