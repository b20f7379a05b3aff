/**
 * Test support for image tests: a TestEnv (temp VMDIR) with an ImageServer
 * serving a small generated qcow2 (`/tiny.qcow2`, 3 MiB of random data) and
 * its SHA256SUMS, a user catalog entry `tiny` for it, and `vm image …` run
 * as the real `vm` subprocess. Not a test file.
 * @module
 */

import { join } from "node:path";
import { TestEnv, type VmRun } from "./harness.ts";
import { ImageServer, sha256Sums } from "./image_server.ts";
import { quoteWords } from "../../lib/text/shell_words.ts";
import { metaOwner } from "../../lib/images/meta.ts";

/** The test-only `vm image` entry point. */

/** Makes a qcow2 holding `mib` MiB of random data at `path`; returns its bytes. */
export async function randomQcow2(path: string, mib: number): Promise<Uint8Array> {
  const raw = path + ".raw";
  const data = new Uint8Array(mib << 20);
  for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
  Deno.writeFileSync(raw, data);
  const out = await new Deno.Command("qemu-img", {
    args: ["convert", "-q", "-f", "raw", "-O", "qcow2", raw, path],
  }).output();
  Deno.removeSync(raw);
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return Deno.readFileSync(path);
}

/** A VMDIR, a server with `/tiny.qcow2` and `/SHA256SUMS`, and the catalog entry `tiny`. */
export class ImageEnv {
  readonly server = new ImageServer();
  private constructor(readonly env: TestEnv, readonly tiny: Uint8Array) {}

  /** Sets it up (the image is made with qemu-img). */
  static async create(): Promise<ImageEnv> {
    const env = TestEnv.create();
    const tiny = await randomQcow2(join(env.root, "tiny.qcow2"), 3);
    const t = new ImageEnv(env, tiny);
    t.server.files.set("/tiny.qcow2", tiny);
    t.setSums(sha256Sums({ "tiny.qcow2": tiny }));
    t.catalog(
      `[tiny]\nkind = disk\nurl = ${t.server.url("/tiny.qcow2")}\n` +
        `sums = ${t.server.url("/SHA256SUMS")}\n`,
    );
    return t;
  }

  /** `$VMDIR/.images`. */
  get images(): string {
    return join(this.env.vmdir, ".images");
  }

  /**
   * The files in `$VMDIR/.images`, sorted ([] when it does not exist), but
   * the `.meta` of an image or `.part` listed (lib/images/meta.ts): one
   * without its image is listed.
   */
  listImages(): string[] {
    let names: string[];
    try {
      names = [...Deno.readDirSync(this.images)].map((e) => e.name).sort();
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
    return names.filter((n) => {
      const image = metaOwner(n);
      return image === undefined || !(names.includes(image) || names.includes(image + ".part"));
    });
  }

  /** Replaces the served SHA256SUMS text. */
  setSums(text: string): void {
    this.server.files.set("/SHA256SUMS", new TextEncoder().encode(text));
  }

  /** Writes the user catalog `$VMDIR/.default/images.conf`. */
  catalog(text: string): void {
    Deno.writeTextFileSync(join(this.env.vmdir, ".default", "images.conf"), text);
  }

  /** The argv that runs `vm <args>`. */
  argv(args: string[]): string[] {
    return [this.env.vmExe, ...args];
  }

  /** A shell command line for `vm <args>`. */
  shell(args: string[]): string {
    return quoteWords(this.argv(args));
  }

  /** Starts `vm <args>` (stdin null, output piped), with `env` added to the environment. */
  spawn(args: string[], env: Record<string, string> = {}): Deno.ChildProcess {
    const [cmd = "", ...rest] = this.argv(args);
    return new Deno.Command(cmd, {
      args: rest,
      env: { ...this.env.env, ...env },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  }

  /** Runs `vm <args>` to completion, with `env` added to the environment. */
  async vm(args: string[], env: Record<string, string> = {}): Promise<VmRun> {
    return await collect(this.spawn(args, env));
  }

  /** Stops the server and removes the VMDIR (and its processes). */
  async close(): Promise<void> {
    await this.server.close();
    await this.env.close();
  }
}

/** Output of a finished child as text. */
export async function collect(child: Deno.ChildProcess): Promise<VmRun> {
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs `fn` with a fresh ImageEnv, closed afterwards whatever happens. */
export async function withImages(fn: (t: ImageEnv) => Promise<void>): Promise<void> {
  const t = await ImageEnv.create();
  try {
    await fn(t);
  } finally {
    await t.close();
  }
}
