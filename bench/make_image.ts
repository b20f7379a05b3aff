// Benchmark of making a VM disk from a cached image (what `vm make --image`
// does: resolve the image in the catalog and cache, `qemu-img info` it,
// create the overlay) against `qemu-img create -b` alone, in the same run.
// Target: overhead < 150 ms. Run: deno run -A bench/make_image.ts

import { join } from "node:path";
import { settingsFrom } from "../lib/vm/config.ts";
import { loadCatalog } from "../lib/images/catalog.ts";
import { importImage } from "../lib/images/cache.ts";
import { makeImageDisk, resolveImage } from "../lib/actions/make_image.ts";

const ROUNDS = 15;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

const root = Deno.makeTempDirSync({ prefix: "vm-bench-make-" });
try {
  const vmdir = join(root, "vms");
  Deno.mkdirSync(join(vmdir, ".default"), { recursive: true });
  const cfg = settingsFrom({ VMDIR: vmdir, HOME: root });
  const raw = join(root, "base.raw");
  Deno.writeFileSync(raw, new Uint8Array(64 << 20));
  const base = (await importImage(cfg, "base", raw)).path;
  const alone: number[] = [];
  const made: number[] = [];
  for (let i = 0; i <= ROUNDS; i++) {
    const a = join(root, `a${i}.qcow2`);
    let t0 = performance.now();
    const out = await new Deno.Command("qemu-img", {
      args: ["create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", a, "20G"],
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    const tAlone = performance.now() - t0;
    const b = join(root, `b${i}.qcow2`);
    t0 = performance.now();
    const img = await resolveImage(cfg, loadCatalog(cfg), { image: "base", arch: "x86_64" }, false);
    await makeImageDisk(cfg, b, img, { disk: "20G" });
    const tMade = performance.now() - t0;
    if (i > 0) { // the first round warms up
      alone.push(tAlone);
      made.push(tMade);
    }
  }
  const overhead = median(made) - median(alone);
  console.log(`qemu-img create -b alone: ${median(alone).toFixed(1)} ms (median of ${ROUNDS})`);
  console.log(`image disk (resolve + info + overlay): ${median(made).toFixed(1)} ms`);
  console.log(
    `overhead: ${overhead.toFixed(1)} ms (target < 150 ms: ${overhead < 150 ? "met" : "NOT met"})`,
  );
  if (overhead >= 150) Deno.exitCode = 1;
} finally {
  Deno.removeSync(root, { recursive: true });
}
