/**
 * Typed errors of `vm`. Every error carries the exit code `main.ts` uses, as
 * runit's `sv` does: 1 a check failed, 100 usage (bad input), 111 system failure.
 * Messages start with a capital letter, quote values and say what to do.
 * @module
 */

/** Exit code: a check failed (e.g. `vm status` of a VM that is not running). */
export const EXIT_CHECK = 1;
/** Exit code: bad usage or input; nothing was changed. */
export const EXIT_USAGE = 100;
/** Exit code: a system failure (a file, a process, QEMU, runit). */
export const EXIT_SYSTEM = 111;

/** Base of every error `vm` reports; `exitCode` is what the process exits with. */
export class VmError extends Error {
  /** The process exit code for this error. */
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT_SYSTEM) {
    super(message);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** Bad command-line usage or input (exit 100). */
export class UsageError extends VmError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
  }
}

/** A check failed (exit 1), e.g. a VM is not running. */
export class CheckFailedError extends VmError {
  constructor(message: string) {
    super(message, EXIT_CHECK);
  }
}

/**
 * A VM that did not come up (exit 1): QEMU exited, or never reached a
 * running state. `lines` are the last lines its log got since the start,
 * shown under the one-line message.
 */
export class StartFailedError extends CheckFailedError {
  readonly lines: readonly string[];
  constructor(message: string, lines: readonly string[] = []) {
    super(message);
    this.lines = lines;
  }
}

/** A system failure (exit 111): a file, a process, QEMU or runit misbehaved. */
export class SystemError extends VmError {
  constructor(message: string) {
    super(message, EXIT_SYSTEM);
  }
}

/** Text of a file (config, template) that cannot be used; message is `<file>:<line>: <why>`. */
export class ParseError extends UsageError {
  /** The file the text came from. */
  readonly file: string;
  /** The 1-based line of the problem. */
  readonly line: number;
  constructor(file: string, line: number, why: string) {
    super(`${file}:${line}: ${why}`);
    this.file = file;
    this.line = line;
  }
}

/** A VM name that is not allowed (exit 100). */
export class InvalidNameError extends UsageError {}

/** The named VM does not exist in VMDIR (exit 100). */
export class VmNotFoundError extends UsageError {
  constructor(name: string, vmdir: string) {
    super(`No VM "${name}" in "${vmdir}"; see "vm list"`);
  }
}

/** The named VM already exists (exit 100). */
export class VmExistsError extends UsageError {
  constructor(name: string, vmdir: string) {
    super(`VM "${name}" already exists in "${vmdir}"; choose another name`);
  }
}

/** The VM is running and the operation needs it stopped (exit 1). */
export class VmRunningError extends CheckFailedError {
  constructor(name: string, what: string) {
    super(`VM "${name}" is running; stop it first with "vm stop ${name}" to ${what}`);
  }
}

/** No runsv supervises the VM, so it cannot be started or stopped (exit 111). */
export class NotSupervisedError extends SystemError {
  constructor(name: string, vmdir: string) {
    super(
      `VM "${name}" is not supervised (no runsv runs for it); start vmd with "vm daemon" ` +
        `(VMDIR "${vmdir}"), or as a service with "vm service install runit|systemd"`,
    );
  }
}

/** Another `vm daemon`, or a runsvdir not started by it, already supervises the VMDIR (exit 1). */
export class DaemonRunningError extends CheckFailedError {}

/** Returns a one-line description of any thrown value. */
export function describe(e: unknown): string {
  if (e instanceof Error) return e.message.split("\n")[0] ?? "";
  return String(e);
}
