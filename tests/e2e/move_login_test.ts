/**
 * A VM made with --image, its disk, and its move to another VMDIR and
 * login there, with the real cloud-init guest (tests/support/cloud_guest.ts,
 * three boots under TCG, ~2 minutes each):
 * - the disk: `vm make web --image` with the default `drive` template gets
 *   `drive-virtio`, and the seed's template is read after it: the guest,
 *   booted by its kernel with `root=/dev/vda`, has its own disk as /dev/vda;
 * - the move: README's `vm export tar web - | ssh host vm import tar - web`
 *   (a local shell for ssh) moves the used VM into another VMDIR, where vm's
 *   SSH key does not exist yet and the VM's SSH port is taken on the host:
 *   the import makes that VMDIR's key, authorises it in the seed with a new
 *   instance-id and moves the forward; `vm start web2 --ssh` and `vm ssh`
 *   work. Then that VMDIR's key is made anew and `vm cloud-init web2
 *   regenerate --new-instance-id` authorises it: the login works again.
 * Slow (minutes): left out of test:quick.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { newKeyFiles } from "../../lib/ssh/keys.ts";
import { withPulledCloudVm } from "../support/cloud_vm.ts";
import { readOr, TestEnv, withEnv } from "../support/harness.ts";

/** `vm start <name> --ssh` in `t`, which must succeed (the guest's console tail when not). */
async function startSsh(t: TestEnv, name: string): Promise<void> {
  const t0 = performance.now();
  const r = await t.vm(["start", name, "--ssh", "--timeout", "420"]);
  const tail = readOr(join(t.dir(name), "guest.log")).split("\n").slice(-30).join("\n");
  assert.equal(r.code, 0, `${r.stdout}${r.stderr}\n${tail}`);
  assert.match(r.stdout, /SSH answered with the pinned host key/);
  console.log(`${name}: boot to SSH ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

/** `vm ssh <name> -- <cmd>`: its output, which must come with exit 0. */
async function ssh(t: TestEnv, name: string, ...cmd: string[]): Promise<string> {
  const r = await t.vm(["ssh", name, "--", ...cmd]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

async function stop(t: TestEnv, name: string): Promise<void> {
  const r = await t.vm(["stop", name]);
  assert.equal(r.code, 0, r.stderr);
}

/** The used VM "web" of `a` moved into `b` as "web2" through a pipe, its SSH port held. */
async function moveByPipe(a: TestEnv, b: TestEnv, sshPort: number): Promise<string> {
  const held = Deno.listen({ hostname: "127.0.0.1", port: sshPort });
  try {
    // --trust: the test guest boots a kernel of this host's test cache (-kernel <path>), which an
    // import disables unless trusted; README's recipe needs none for a VM booting its own disk.
    const pipe =
      `VMDIR=${a.vmdir} vm export tar web - | VMDIR=${b.vmdir} vm import tar --trust - web2`;
    const r = await new Deno.Command("sh", {
      args: ["-c", pipe],
      env: a.env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    assert.equal(r.code, 0, dec.decode(r.stdout) + dec.decode(r.stderr));
    return dec.decode(r.stdout);
  } finally {
    held.close();
  }
}

Deno.test({
  name: "a used --image VM moved by export tar | import tar is reached by vm ssh",
  sanitizeResources: false,
  fn: () =>
    withEnv({}, async (a) => {
      const b = TestEnv.create();
      try {
        const mine = await newKeyFiles("tester");
        Deno.writeTextFileSync(`${a.root}/id_tester.pub`, mine.public);
        const opts = {
          wait: 60,
          sshKey: `${a.root}/id_tester.pub`,
          defaults: "display-none drive",
        };
        const port = await withPulledCloudVm(a, "web", opts, async (vm) => {
          // The disk on virtio, attached before the seed, is /dev/vda in the guest.
          const templates = [...Deno.readDirSync(`${vm.dir}/templates`)].map((e) => e.name);
          assert.ok(
            templates.includes("drive-virtio") && !templates.includes("drive"),
            `${templates}`,
          );
          const args = (await a.vm(["args", "web"])).stdout;
          assert.ok(args.indexOf("file=./drive.qcow2") < args.indexOf("file=./seed.iso"), args);
          a.startRunsvdir();
          await startSsh(a, "web");
          assert.equal(await ssh(a, "web", "findmnt", "-no", "SOURCE", "/"), "/dev/vda\n");
          await stop(a, "web");
          return vm.sshPort;
        });

        // Moved through a pipe into b, which has no vm key yet; the port is taken.
        const out = await moveByPipe(a, b, port);
        const lines = out.trimEnd().split("\n");
        assert.equal(lines[0], `VM "web2" imported into "${b.dir("web2")}" (down)`);
        assert.match(
          lines[1] ?? "",
          new RegExp(
            `^web2: vm's SSH key \\(of "${b.vmdir}"\\) authorised in its seed, with a new ` +
              `instance-id \\(iid-[0-9a-f]{16}\\): cloud-init adds it at the next boot$`,
          ),
        );
        assert.match(lines[2] ?? "", new RegExp(`^web2: SSH forward moved from port ${port} `));
        assert.equal(lines[3], `Start it with "vm start web2 --ssh"`);
        b.startRunsvdir();
        await startSsh(b, "web2");
        assert.equal(await ssh(b, "web2", "hostname"), "web\n");
        await stop(b, "web2");

        // VMDIR b's key made anew: regenerate --new-instance-id authorises it.
        Deno.removeSync(`${b.vmdir}/.default/ssh`, { recursive: true });
        const regen = await b.vm(["cloud-init", "web2", "regenerate", "--new-instance-id"]);
        assert.equal(regen.code, 0, regen.stderr);
        assert.match(
          regen.stdout,
          /^web2: vm's SSH key \(of ".*"\) added to cloud-init\/user-data$/m,
        );
        assert.match(regen.stdout, /instance-id iid-[0-9a-f]{16} \(new: /);
        await startSsh(b, "web2");
        assert.equal(await ssh(b, "web2", "hostname"), "web\n");
        await stop(b, "web2");
      } finally {
        await b.close();
      }
    }),
});
