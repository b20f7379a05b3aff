// Benchmark of `vm image pull` (a streamed download, hashed with SHA-256 as it comes) against
// `curl -o` of the same URL, in the same run, from a local server (Deno.serve on 127.0.0.1
// sending 1 GiB from memory, as tests/support/image_server.ts serves images), in two cases:
// - paced: the server sends at most 1 Gbit/s (125,000,000 bytes/s, spread over 256 KiB
//   pieces), as a fast network does: the real case. Target: the pull's throughput >= 0.95 x
//   curl's.
// - unpaced: as fast as localhost goes. Here the pull is bound by CPU (2 cores shared with the
//   server and curl's or vm's work), so this shows what vm's own work costs: the ratio is
//   reported, target >= 0.6.
// And the peak RSS of the pulling process (VmHWM of /proc/<pid>/status, polled), target < 80 MB.
// Every run starts after `sync` and a scratch GiB written and deleted (free memory in place);
// curl and the pull alternate in order; medians of ROUNDS runs. The pull runs as
// `vm image pull` through main.ts. Run: deno run -A bench/image_pull.ts [rounds]

import { createHash } from "node:crypto";
import { join } from "node:path";

const SIZE = 1 << 30;
const RATE = 125_000_000; // bytes per second: 1 Gbit/s
const PIECE = 256 << 10;
const ROUNDS = Number(Deno.args[0] ?? 5);
const MAIN = new URL("../main.ts", import.meta.url).pathname;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/** Peak RSS (VmHWM) of `pid` in kB, or undefined when it is gone. */
function vmHwm(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) : undefined;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined; // exited between two polls
    throw e;
  }
}

/** Runs a command to completion; returns wall ms and the peak RSS seen (kB). */
async function timed(cmd: string, args: string[], env: Record<string, string>) {
  const t0 = performance.now();
  const child = new Deno.Command(cmd, { args, env, stdin: "null", stdout: "null", stderr: "piped" })
    .spawn();
  let peak = 0;
  let done = false;
  const status = child.output().finally(() => (done = true));
  while (!done) {
    peak = Math.max(peak, vmHwm(child.pid) ?? 0);
    await new Promise((r) => setTimeout(r, 20));
  }
  const out = await status;
  const ms = performance.now() - t0;
  if (!out.success) throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr)}`);
  return { ms, peakKb: peak };
}

/** 1 MiB of pseudo-random bytes; the served GiB is it 1024 times. */
const block = new Uint8Array(1 << 20);
for (let i = 0; i < block.length; i += 65536) crypto.getRandomValues(block.subarray(i, i + 65536));

/** The body of one response: SIZE bytes in PIECE-byte pieces, at most RATE bytes/s when `paced`. */
function body(paced: boolean): ReadableStream<Uint8Array> {
  let sent = 0;
  const t0 = performance.now();
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      if (sent >= SIZE) return c.close();
      if (paced) {
        const due = t0 + (sent / RATE) * 1000;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const at = sent % block.length;
      c.enqueue(block.subarray(at, at + PIECE));
      sent += PIECE;
    },
  });
}

const root = Deno.makeTempDirSync({ prefix: "vm-bench-pull-" });
let server: Deno.HttpServer<Deno.NetAddr> | undefined;
try {
  const hash = createHash("sha256");
  for (let i = 0; i < SIZE / block.length; i++) hash.update(block);
  const sha = hash.digest("hex");
  server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const paced = new URL(req.url).pathname.startsWith("/paced/");
    return new Response(body(paced), { headers: { "content-length": String(SIZE) } });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  const vmdir = join(root, "vms");
  Deno.mkdirSync(vmdir);
  const env = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: root,
    VMDIR: vmdir,
    VMCONF: "/dev/null",
    ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR") ?? "" } : {}),
  };
  let peakKb = 0;
  const runCurl = async (url: string) => {
    const ms = (await timed("curl", ["-sS", "-o", join(root, "curl.img"), url], env)).ms;
    Deno.removeSync(join(root, "curl.img"));
    return ms;
  };
  const runPull = async (url: string) => {
    const args = ["run", "--allow-all", "--quiet", MAIN, "image", "pull", url, "--sha256", sha];
    const r = await timed(Deno.execPath(), args, env);
    peakKb = Math.max(peakKb, r.peakKb);
    Deno.removeSync(join(vmdir, ".images"), { recursive: true });
    return r.ms;
  };
  // No dirty pages, and memory just freed (a scratch GiB written and deleted) before each run.
  const prepare = async () => {
    await new Deno.Command("sync").output();
    const scratch = join(root, "scratch");
    const dd = ["if=/dev/zero", `of=${scratch}`, "bs=1M", `count=${SIZE >> 20}`, "status=none"];
    const out = await new Deno.Command("dd", { args: dd, stderr: "piped" }).output();
    if (!out.success) throw new Error(`dd failed: ${new TextDecoder().decode(out.stderr)}`);
    Deno.removeSync(scratch);
    await new Deno.Command("sync").output();
  };
  const mibs = (ms: number) => (SIZE / (1 << 20)) / (ms / 1000);
  // One untimed run of each first: the first `deno run` in the bench's fresh HOME compiles vm's
  // modules into Deno's cache, which an installed vm did once, when it was installed.
  await runCurl(`${base}/big.img`);
  await runPull(`${base}/big.img`);
  const results: { name: string; curl: number[]; pull: number[]; ratio: number }[] = [];
  for (const name of ["paced", "unpaced"]) {
    const url = `${base}/${name}/big.img`;
    const res = { name, curl: [] as number[], pull: [] as number[] };
    for (let i = 0; i < ROUNDS; i++) {
      for (const tool of i % 2 === 0 ? ["curl", "pull"] : ["pull", "curl"]) {
        await prepare();
        if (tool === "curl") res.curl.push(await runCurl(url));
        else res.pull.push(await runPull(url));
      }
    }
    results.push({ ...res, ratio: mibs(median(res.pull)) / mibs(median(res.curl)) });
  }
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(" ");
  console.log(`vm image pull of 1 GiB against curl -o, median of ${ROUNDS} runs each`);
  for (const r of results) {
    console.log(
      `  ${r.name.padEnd(8)} curl -o ${mibs(median(r.curl)).toFixed(0)} MiB/s (${
        fmt(r.curl)
      } ms), ` +
        `vm image pull ${mibs(median(r.pull)).toFixed(0)} MiB/s (${fmt(r.pull)} ms), ` +
        `ratio ${r.ratio.toFixed(2)}`,
    );
  }
  const [paced, unpaced] = [results[0]!.ratio, results[1]!.ratio];
  const verdict = (ok: boolean) => ok ? "met" : "NOT met";
  console.log(
    `  paced at 1 Gbit/s: ratio ${paced.toFixed(2)} (target >= 0.95: ${verdict(paced >= 0.95)})`,
  );
  console.log(
    `  unpaced localhost: ratio ${unpaced.toFixed(2)} (target >= 0.6: ${verdict(unpaced >= 0.6)})`,
  );
  const peakMb = peakKb / 1024;
  console.log(
    `  peak RSS of the pull: ${peakMb.toFixed(1)} MB (target < 80 MB: ${verdict(peakMb < 80)})`,
  );
  if (paced < 0.95 || unpaced < 0.6 || peakMb >= 80) Deno.exitCode = 1;
} finally {
  await server?.shutdown();
  Deno.removeSync(root, { recursive: true });
}
