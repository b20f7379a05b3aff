/**
 * Which QEMU options take no value (flags): the rest take the next word as
 * their value. Used to group arguments (lib/export/qemu_options.ts) and to
 * see when a template word that expanded to nothing would shift an option's
 * value (lib/vm/templates.ts). Pure.
 * @module
 */

/** QEMU options that take no value (qemu-options.hx, QEMU 7.2 to 9.x). */
export const FLAG_OPTIONS: ReadonlySet<string> = new Set([
  "-nographic",
  "-enable-kvm",
  "-no-reboot",
  "-no-shutdown",
  "-S",
  "-s",
  "-nodefaults",
  "-no-user-config",
  "-snapshot",
  "-no-acpi",
  "-no-hpet",
  "-usb",
  "-full-screen",
  "-daemonize",
  "-no-fd-bootchk",
  "-alt-grab",
  "-ctrl-grab",
  "-no-quit",
  "-portrait",
  "-win2k-hack",
  "-singlestep",
  "-preconfig",
  "-only-migratable",
  "-enable-sync-profile",
  "-version",
  "-h",
  "-help",
  "-old-param",
  "-no-frame",
  "-semihosting",
]);

/** Whether the word `word` is a QEMU option that takes the next word as its value. Pure. */
export function takesValue(word: string): boolean {
  if (!word.startsWith("-") || word === "-" || word === "--") return false;
  const opt = word.startsWith("--") ? word.slice(1) : word;
  return !FLAG_OPTIONS.has(opt);
}
