// Unit tests of lib/os/fs.ts's safe writes and reads: an atomic write
// never follows a planted `x.new` symlink, removes a
// stale regular one, and gives exactly the mode asked for whatever the
// umask; directories likewise; a read through a symlink out of its
// directory is refused. A streamed write (openAtomic, `vm export
// tar FILE`) replaces a `FILE.new` someone else made and refuses a symlink
// there; openPlainFile (a pull's `.part`) never follows a planted symlink.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  checkInside,
  LeavingLinkError,
  makeDir,
  MODE,
  openAtomic,
  openPlainFile,
  readFileInside,
  writeFileAtomic,
} from "../../lib/os/fs.ts";
import { SystemError } from "../../lib/errors.ts";
import { withTempDir } from "../support/temp_dir.ts";

const mode = (p: string) => (Deno.lstatSync(p).mode ?? 0) & 0o7777;

/** Runs `fn` with the process umask set to `mask`, restoring it after. */
function withUmask<T>(mask: number, fn: () => T): T {
  const old = Deno.umask(mask);
  try {
    return fn();
  } finally {
    Deno.umask(old);
  }
}

Deno.test("writeFileAtomic: a planted x.new symlink is refused; its target is untouched", async () => {
  await withTempDir((dir) => {
    const victim = join(dir, "victim");
    Deno.writeTextFileSync(victim, "precious\n");
    const once = join(dir, "once");
    Deno.symlinkSync(victim, once + ".new");
    assert.throws(() => writeFileAtomic(once, "-name x\n"), (e: unknown) => {
      assert.ok(e instanceof SystemError);
      assert.match(e.message, /once\.new" is a symbolic link.*remove it/);
      return true;
    });
    assert.equal(Deno.readTextFileSync(victim), "precious\n");
    assert.equal(Deno.lstatSync(once + ".new").isSymlink, true, "left for the user to see");
    assert.throws(() => Deno.lstatSync(once), Deno.errors.NotFound);
  });
});

Deno.test("writeFileAtomic: a stale regular x.new is replaced; x itself, even a symlink, is replaced not followed", async () => {
  await withTempDir((dir) => {
    const victim = join(dir, "victim");
    Deno.writeTextFileSync(victim, "precious\n");
    const path = join(dir, "wait");
    Deno.writeTextFileSync(path + ".new", "half a write");
    Deno.symlinkSync(victim, path);
    writeFileAtomic(path, "30\n");
    assert.equal(Deno.lstatSync(path).isFile, true);
    assert.equal(Deno.readTextFileSync(path), "30\n");
    assert.equal(Deno.readTextFileSync(victim), "precious\n");
    assert.throws(() => Deno.lstatSync(path + ".new"), Deno.errors.NotFound);
  });
});

Deno.test("writeFileAtomic and makeDir: exact modes under umask 000 and 022", async () => {
  await withTempDir((dir) => {
    for (const mask of [0o000, 0o022, 0o077]) {
      withUmask(mask, () => {
        const sub = join(dir, `d${mask}`, "a", "b");
        makeDir(sub, MODE.dir, true);
        for (const d of [join(dir, `d${mask}`), join(dir, `d${mask}`, "a"), sub]) {
          assert.equal(mode(d), 0o700, `${d} under umask ${mask.toString(8)}`);
        }
        writeFileAtomic(join(sub, "f"), "x");
        assert.equal(mode(join(sub, "f")), 0o600);
        writeFileAtomic(join(sub, "s"), "#!/bin/sh\n", MODE.script);
        assert.equal(mode(join(sub, "s")), 0o700);
        writeFileAtomic(join(sub, "f"), new Uint8Array([1, 2]), 0o644);
        assert.equal(mode(join(sub, "f")), 0o644, "a rewrite gets the mode asked for");
      });
    }
    // An existing directory is left as it is.
    Deno.chmodSync(join(dir, "d0"), 0o750);
    makeDir(join(dir, "d0"));
    assert.equal(mode(join(dir, "d0")), 0o750);
  });
});

Deno.test("readFileInside/checkInside: links within the directory are followed, links out refused", async () => {
  await withTempDir((dir) => {
    const vm = join(dir, "vm");
    Deno.mkdirSync(join(vm, "templates"), { recursive: true });
    Deno.writeTextFileSync(join(dir, "secret"), "s3cret");
    Deno.writeTextFileSync(join(vm, "mem"), "-m 1G");
    Deno.symlinkSync("../mem", join(vm, "templates", "inside"));
    Deno.symlinkSync(join(dir, "secret"), join(vm, "templates", "out"));
    Deno.symlinkSync("../../secret", join(vm, "templates", "out-relative"));
    Deno.symlinkSync(join(dir, "nothing"), join(vm, "templates", "dangling"));
    const text = (p: string) => new TextDecoder().decode(readFileInside(vm, p));
    assert.equal(text(join(vm, "templates", "inside")), "-m 1G");
    for (const name of ["out", "out-relative"]) {
      const p = join(vm, "templates", name);
      assert.throws(() => readFileInside(vm, p), LeavingLinkError);
      assert.throws(() => checkInside(vm, p), (e: unknown) => {
        assert.ok(e instanceof SystemError);
        assert.match(e.message, /is a symbolic link to ".*secret", outside its VM's directory/);
        return true;
      });
    }
    assert.equal(readFileInside(vm, join(vm, "templates", "dangling")), undefined);
    assert.equal(readFileInside(vm, join(vm, "missing")), undefined);
    checkInside(vm, join(vm, "templates", "inside"));
  });
});

/** Writes `text` through `f` and commits it. */
async function writeThrough(f: ReturnType<typeof openAtomic>, text: string): Promise<void> {
  const w = f.writable.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  f.commit();
}

Deno.test("openAtomic: another's FILE.new (0666) is replaced by ours, a symlink refused; abort leaves nothing", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "p1.tar");
    Deno.writeTextFileSync(out + ".new", "theirs");
    Deno.chmodSync(out + ".new", 0o666);
    const f = withUmask(0, () => openAtomic(out));
    assert.equal(Deno.readTextFileSync(f.tmp), "", "a file of our own, not theirs");
    assert.equal(mode(f.tmp), 0o600);
    await writeThrough(f, "archive");
    assert.equal(Deno.readTextFileSync(out), "archive");
    assert.equal(mode(out), 0o600);
    assert.throws(() => Deno.lstatSync(out + ".new"), Deno.errors.NotFound);

    const victim = join(dir, "victim");
    Deno.writeTextFileSync(victim, "precious\n");
    Deno.symlinkSync(victim, join(dir, "p2.tar.new"));
    assert.throws(() => openAtomic(join(dir, "p2.tar")), /p2\.tar\.new" is a symbolic link/);
    assert.equal(Deno.readTextFileSync(victim), "precious\n");

    const g = openAtomic(join(dir, "p3.tar"));
    g.abort();
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith("p3")),
      [],
    );
  });
});

Deno.test("openPlainFile: a planted symlink, dangling or not, is refused and its target untouched", async () => {
  await withTempDir((dir) => {
    const precious = join(dir, "precious");
    Deno.writeTextFileSync(precious, "keep me\n");
    const part = join(dir, "victim.img.part");
    Deno.symlinkSync(precious, part);
    assert.throws(() => openPlainFile(part), /victim\.img\.part" is a symbolic link/);
    assert.equal(Deno.readTextFileSync(precious), "keep me\n");
    const dangling = join(dir, "other.img.part");
    Deno.symlinkSync(join(dir, "made-by-us"), dangling);
    assert.throws(() => openPlainFile(dangling), SystemError);
    assert.throws(() => Deno.lstatSync(join(dir, "made-by-us")), Deno.errors.NotFound);
    // A real file is opened as it is (a resume), a missing one created with the mode asked for.
    const resume = join(dir, "r.part");
    Deno.writeTextFileSync(resume, "12345");
    const f = openPlainFile(resume);
    assert.equal(f.statSync().size, 5, "not truncated");
    f.close();
    const fresh = withUmask(0o077, () => openPlainFile(join(dir, "n.part"), 0o640));
    fresh.close();
    assert.equal(mode(join(dir, "n.part")), 0o640);
  });
});
