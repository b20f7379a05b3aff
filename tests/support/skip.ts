/**
 * Test support: a test that cannot run on this machine is reported as
 * skipped with its reason in its name (`deno test` lists it "ignored";
 * `.ci/run` counts it as skipped, never as passed); and the script that gives
 * a command a machine without a usable /dev/kvm. Not a test file.
 * @module
 */

/**
 * The name and `ignore` of Deno.test's options: the test runs when `skip` is
 * undefined; otherwise it is ignored, its reason appended to its name.
 *
 *     Deno.test({ ...skippable("a name", isRoot ? undefined : "needs root"), fn })
 */
export function skippable(
  name: string,
  skip: string | undefined,
): { name: string; ignore: boolean } {
  return skip === undefined
    ? { name, ignore: false }
    : { name: `${name} (skipped: ${skip})`, ignore: true };
}

/** tests/support/without_kvm.sh: runs a command with no /dev/kvm, or one only root may open. */
export const WITHOUT_KVM = new URL("./without_kvm.sh", import.meta.url).pathname;
