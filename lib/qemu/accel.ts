/**
 * KVM or TCG: when a VM's arguments ask for KVM (`-accel kvm`, `-enable-kvm`,
 * `-machine …,accel=kvm`) and /dev/kvm cannot be opened by the user QEMU
 * runs as, `vm __run` gives QEMU TCG instead (slow, but it runs) and drops
 * `-cpu host`, which exists only with KVM; it says so in one line. Arguments
 * that do not ask for KVM are never changed. The rewrite is pure;
 * {@link kvmProblem} opens /dev/kvm.
 * @module
 */

/** The KVM device. */
export const KVM_DEVICE = "/dev/kvm";

/** What {@link chooseAccel} decided. */
export interface AccelChoice {
  /** QEMU's arguments (the input itself when nothing changed). */
  args: string[];
  /** The one line that says what changed, when something did. */
  note?: string;
}

/** `-x` and `--x` are the same QEMU option; the option's name without dashes, or undefined. */
function optionName(word: string): string | undefined {
  const m = /^--?([A-Za-z][a-z0-9-]*)$/.exec(word);
  return m?.[1];
}

/** Whether an `-accel` value names KVM (`kvm`, `kvm,kernel-irqchip=on`, `accel=kvm`). Pure. */
function accelIsKvm(value: string): boolean {
  const first = value.split(",")[0] ?? "";
  return first === "kvm" || first === "accel=kvm";
}

/** A `-machine` value with its `accel=` list made TCG-only, or undefined when it names no KVM. */
function machineWithoutKvm(value: string): string | undefined {
  const parts = value.split(",");
  let changed = false;
  const out = parts.map((p) => {
    const m = /^accel=(.*)$/.exec(p);
    if (m === null || !(m[1] ?? "").split(":").includes("kvm")) return p;
    changed = true;
    const rest = (m[1] ?? "").split(":").filter((a) => a !== "kvm");
    return `accel=${rest.length > 0 ? rest.join(":") : "tcg"}`;
  });
  return changed ? out.join(",") : undefined;
}

/**
 * The arguments QEMU gets when KVM is unusable (`kvmProblem` says why;
 * undefined: it is usable, nothing changes): KVM requests removed (or turned
 * into TCG in `-machine accel=`), `-accel tcg` added when no accelerator is
 * left, `-cpu host` removed. Arguments asking for no KVM are returned as
 * they are. Pure.
 */
export function chooseAccel(args: readonly string[], kvmProblem: string | undefined): AccelChoice {
  if (kvmProblem === undefined) return { args: [...args] };
  const out: string[] = [];
  let askedKvm = false;
  let droppedCpu = false;
  let accelLeft = false;
  for (let i = 0; i < args.length; i++) {
    const word = args[i] ?? "";
    const name = optionName(word);
    const value = args[i + 1];
    if (name === "enable-kvm") {
      askedKvm = true;
      continue;
    }
    if (name === "accel" && value !== undefined) {
      i++;
      if (accelIsKvm(value)) askedKvm = true;
      else {
        accelLeft = true;
        out.push(word, value);
      }
      continue;
    }
    if ((name === "machine" || name === "M") && value !== undefined) {
      i++;
      const tcg = machineWithoutKvm(value);
      if (tcg !== undefined) askedKvm = true;
      if (/(^|,)accel=/.test(tcg ?? value)) accelLeft = true;
      out.push(word, tcg ?? value);
      continue;
    }
    if (name === "cpu" && value !== undefined && (value.split(",")[0] ?? "") === "host") {
      i++;
      droppedCpu = true;
      continue;
    }
    out.push(word);
  }
  if (!askedKvm) return { args: [...args] };
  if (!accelLeft) out.push("-accel", "tcg");
  return {
    args: out,
    note: `KVM is not usable (${kvmProblem}): running with TCG, which is much slower` +
      (droppedCpu ? ', without "-cpu host" (KVM only)' : ""),
  };
}

/**
 * Why this process cannot use KVM, or undefined when it can: opens
 * /dev/kvm for reading and writing, as QEMU does, and closes it.
 */
export function kvmProblem(device = KVM_DEVICE): string | undefined {
  try {
    Deno.openSync(device, { read: true, write: true }).close();
    return undefined;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return `${device} does not exist`;
    if (e instanceof Deno.errors.PermissionDenied) {
      return `no permission to open ${device}; add the user to its group`;
    }
    if (e instanceof Error) return `cannot open ${device}: ${e.message}`;
    throw e;
  }
}
