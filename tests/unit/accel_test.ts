// lib/qemu/accel.ts: KVM asked for but not usable → TCG, without -cpu host,
// with one line saying so; arguments that do not ask for KVM never change.

import assert from "node:assert/strict";
import { chooseAccel, kvmProblem } from "../../lib/qemu/accel.ts";
import { withTempDir } from "../support/temp_dir.ts";

const WHY = "no permission to open /dev/kvm; add the user to its group";

Deno.test("chooseAccel: KVM usable, nothing changes", () => {
  const args = ["-accel", "kvm", "-accel", "tcg", "-cpu", "host", "-m", "2G"];
  assert.deepEqual(chooseAccel(args, undefined), { args });
});

Deno.test("chooseAccel: the shipped kvm template falls back to TCG and drops -cpu host", () => {
  const r = chooseAccel(["-accel", "kvm", "-accel", "tcg", "-cpu", "host", "-m", "2G"], WHY);
  assert.deepEqual(r.args, ["-accel", "tcg", "-m", "2G"]);
  assert.equal(
    r.note,
    `KVM is not usable (${WHY}): running with TCG, which is much slower, ` +
      'without "-cpu host" (KVM only)',
  );
});

Deno.test("chooseAccel: -enable-kvm and -accel kvm,opts are replaced by -accel tcg", () => {
  assert.deepEqual(chooseAccel(["-enable-kvm", "-m", "1G"], WHY).args, [
    "-m",
    "1G",
    "-accel",
    "tcg",
  ]);
  assert.deepEqual(
    chooseAccel(["--accel", "kvm,kernel-irqchip=on", "-cpu", "host,+x2apic"], WHY).args,
    ["-accel", "tcg"],
  );
  const r = chooseAccel(["-enable-kvm"], WHY);
  assert.equal(r.note, `KVM is not usable (${WHY}): running with TCG, which is much slower`);
});

Deno.test("chooseAccel: -machine accel=kvm[:tcg] keeps its other accelerators", () => {
  assert.deepEqual(chooseAccel(["-machine", "q35,accel=kvm:tcg"], WHY).args, [
    "-machine",
    "q35,accel=tcg",
  ]);
  assert.deepEqual(chooseAccel(["-M", "accel=kvm,smm=off"], WHY).args, ["-M", "accel=tcg,smm=off"]);
});

Deno.test("chooseAccel: no KVM asked for, nothing changes (not even -cpu host)", () => {
  const args = ["-accel", "tcg", "-cpu", "host", "-machine", "q35"];
  assert.deepEqual(chooseAccel(args, WHY), { args });
  assert.deepEqual(chooseAccel([], WHY), { args: [] });
  // A word that only looks like an option value is not one.
  assert.deepEqual(chooseAccel(["-name", "kvm"], WHY), { args: ["-name", "kvm"] });
});

Deno.test("kvmProblem: a missing device, and a device that opens", async () => {
  await withTempDir((dir) => {
    assert.equal(kvmProblem(`${dir}/kvm`), `${dir}/kvm does not exist`);
    Deno.writeTextFileSync(`${dir}/kvm`, "");
    assert.equal(kvmProblem(`${dir}/kvm`), undefined);
  });
});
