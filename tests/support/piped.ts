/**
 * Test support: run a command with text on its stdin and collect its output.
 * Not a test file.
 * @module
 */

/** Exit code and output of one command run. */
export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Spawns `cmd args` with exactly the environment `env` (nothing inherited) and piped stdio. */
export function spawnPiped(
  cmd: string,
  args: string[],
  env: Record<string, string>,
): Deno.ChildProcess {
  return new Deno.Command(cmd, {
    args,
    env,
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/**
 * Runs `cmd args` with exactly the environment `env` (nothing inherited),
 * `input` written to its stdin through a pipe, and returns its exit code and
 * output. A command that exits before reading its input is not an error here:
 * its output says why.
 */
export async function runPiped(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  input = "",
): Promise<Output> {
  const child = spawnPiped(cmd, args, env);
  const w = child.stdin.getWriter();
  try {
    await w.write(new TextEncoder().encode(input));
    await w.close();
  } catch (e) {
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
