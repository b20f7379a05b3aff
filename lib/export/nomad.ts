/**
 * `vm export nomad`: a Nomad job that runs the VM with the `qemu` task
 * driver: one group, one task, as HCL (`nomad job run web.nomad.hcl`) or as
 * the JSON payload of the jobs API (`POST /v1/jobs`). The arguments are
 * mapped by nomad_args.ts; this module adds the artifacts (disk, seed), the
 * network ports, kill_timeout and resources.
 *
 * Field names and defaults, read from hashicorp/nomad at commit aa026cc99cfb
 * (main after v1.11.0-rc.1): drivers/qemu/driver.go (taskConfigSpec:
 * image_path string required; emulator, machine_type, drive_interface,
 * accelerator strings; graceful_shutdown, guest_agent bools, default false;
 * args list(string); port_map list(map(number)), in JSON a list of one
 * object, hclutils.MapStrInt) and api/ (jobs.go Job: ID, Name, Type,
 * Datacenters, TaskGroups; tasks.go TaskGroup: Name, Count, Networks, Tasks;
 * Task: Name, Driver, Config, Resources, KillTimeout as nanoseconds
 * (default 5 s), Artifacts; TaskArtifact: GetterSource, GetterOptions
 * (`checksum = "sha256:<hex>"`), GetterMode (default "any"; "file" puts
 * the file at RelativeDest, default `local/<basename>`); resources.go
 * Resources: MemoryMB, Cores; NetworkResource: ReservedPorts, DynamicPorts,
 * Port: Label, Value (the HCL `static`), To). jobspec2 moves HCL `port`
 * blocks with `static` into ReservedPorts. A client caps kill_timeout at its
 * `max_kill_timeout` (default 30s, command/agent/config.go).
 * Not run against Nomad (no Nomad binary here): schema-tested only.
 * Pure: no I/O. Area lib/export, at the level of actions.
 * @module
 */

import { basename } from "../os/path.ts";
import { UsageError } from "../errors.ts";
import { F } from "../layout.ts";
import type { DiskModel, VmModel } from "./vm_model.ts";
import { mapNomadArgs, type NomadMapping, type NomadQemuConfig, TASK_SEED } from "./nomad_args.ts";

/** Where an image comes from: a URL and, when known, its checksum (`sha256:<hex>`). */
export interface ImageSource {
  url: string;
  checksum?: string;
}

/**
 * Looks up the catalog URL of a cached image by its absolute path (the
 * backing file of an overlay made with `--image`); undefined when unknown.
 */
export type ImageLookup = (imagePath: string) => ImageSource | undefined;

/** Choices of `vm export nomad`. */
export interface NomadOptions {
  datacenter: string;
  /** Where the user publishes the disk (`--image-url`). */
  imageUrl?: string;
  /** Where the user publishes seed.iso (`--seed-url`). */
  seedUrl?: string;
  lookup: ImageLookup;
}

/** One `artifact` block. */
export interface NomadArtifact {
  source: string;
  destination: string;
  checksum?: string;
}

/** One `network { port "<label>" { static = … } }` with its guest port for port_map. */
export interface NomadPort {
  label: string;
  static: number;
  guest: number;
}

/** The job, before it is written as HCL or JSON. */
export interface NomadJob {
  name: string;
  datacenter: string;
  killTimeoutS: number;
  imagePath: string;
  artifacts: NomadArtifact[];
  ports: NomadPort[];
  config: NomadQemuConfig;
}

/** The disk shipped as image_path: the VM's only disk (the seed is not one). Pure. */
function mainDisk(model: VmModel): DiskModel {
  const disks = model.disks.filter((d) => d.path !== model.seed?.path);
  const [disk, second] = disks;
  if (disk === undefined) {
    throw new UsageError(
      `VM "${model.name}" has no disk in its templates; Nomad's qemu driver boots one image ` +
        `(image_path): add a "-drive file=…" template`,
    );
  }
  if (second !== undefined) {
    throw new UsageError(
      `VM "${model.name}" has ${disks.length} disks ("${disk.path}", "${second.path}"…); ` +
        "Nomad's qemu driver takes one image: merge them or export a VM with one disk",
    );
  }
  return disk;
}

/** The artifact of the disk (see the module doc of cli/export.ts for the rule). Pure. */
function diskArtifact(model: VmModel, disk: DiskModel, opts: NomadOptions): NomadArtifact {
  const base = disk.chain[0];
  const fromCatalog = base === undefined ? undefined : opts.lookup(base.path);
  const src: ImageSource | undefined = opts.imageUrl !== undefined
    ? { url: opts.imageUrl }
    : fromCatalog;
  if (src === undefined) {
    throw new UsageError(
      base === undefined
        ? `Disk "${disk.path}" of VM "${model.name}" has no URL Nomad could fetch it from; ` +
          `publish it and give --image-url URL`
        : `Disk "${disk.path}" of VM "${model.name}" is an overlay on "${base.path}", which is ` +
          `in no image catalog; publish the disk (flattened) and give --image-url URL`,
    );
  }
  const name = basename(new URL(src.url, "file:///").pathname) || `${model.name}.img`;
  const art: NomadArtifact = { source: src.url, destination: `local/${name}` };
  if (src.checksum !== undefined) art.checksum = src.checksum;
  return art;
}

/** Network ports from the VM's ports file: one label per host/guest pair. Pure. */
function nomadPorts(model: VmModel): NomadPort[] {
  const out: NomadPort[] = [];
  for (const p of model.ports) {
    if (out.some((o) => o.static === p.hostPort && o.guest === p.guestPort)) continue;
    let label = `${p.proto}_${p.guestPort}`;
    if (out.some((o) => o.label === label)) label += `_${p.hostPort}`;
    out.push({ label, static: p.hostPort, guest: p.guestPort });
  }
  return out;
}

/**
 * The Nomad job for `model`, and how each argument was mapped. Pure; throws
 * UsageError when the VM cannot run under Nomad or a URL is missing.
 */
export function buildNomadJob(
  model: VmModel,
  opts: NomadOptions,
): { job: NomadJob; mappings: NomadMapping[] } {
  const shares = model.shares ?? [];
  if (shares.length > 0) {
    throw new UsageError(
      `VM "${model.name}" shares folders (${shares.map((s) => s.tag).join(", ")}), and ` +
        "Nomad's qemu driver mounts no host folders into a VM; remove them " +
        `("vm share rm ${model.name} TAG") to export it`,
    );
  }
  const nic = model.attachments[0];
  if (nic !== undefined) {
    throw new UsageError(
      `VM "${model.name}" has a NIC on ${
        nic.kind === "net" ? `private network "${nic.network}"` : `bridge "${nic.bridge}"`
      }; Nomad's qemu driver has only user-mode port maps: detach it (vm net detach) to export`,
    );
  }
  const disk = mainDisk(model);
  const artifacts = [diskArtifact(model, disk, opts)];
  if (model.seed !== undefined) {
    if (opts.seedUrl === undefined) {
      throw new UsageError(
        `VM "${model.name}" has a cloud-init seed ("${model.seed.path}"); publish it and ` +
          `give --seed-url URL`,
      );
    }
    const seed = { source: opts.seedUrl, destination: TASK_SEED };
    artifacts.push({ ...seed, checksum: `sha256:${model.seed.sha256}` });
  }
  const { config, mappings } = mapNomadArgs(model, disk.path, model.seed?.path);
  const job: NomadJob = {
    name: model.name,
    datacenter: opts.datacenter,
    killTimeoutS: model.wait + 5,
    imagePath: artifacts[0]?.destination ?? "",
    artifacts,
    ports: nomadPorts(model),
    config,
  };
  for (const p of model.ports) {
    mappings.push({
      at: F.ports,
      arg: `${p.proto} ${p.hostAddr}:${p.hostPort} ${p.guestPort}`,
      to: `static port ${p.hostPort} on the node's addresses (the driver's hostfwd binds all of ` +
        `them, tcp and udp), port_map to ${p.guestPort}`,
    });
  }
  if (disk.chain.length > 0 && opts.imageUrl === undefined) {
    mappings.push({
      at: "",
      arg: disk.path,
      to: `the overlay's own changes are not exported: the job boots "${job.imagePath}"`,
    });
  }
  return { job, mappings };
}

/** The jobs API payload (`{"Job": {…}}`) with Nomad's JSON field names. Pure. */
export function nomadPayload(job: NomadJob): { Job: Record<string, unknown> } {
  const c = job.config;
  const config: Record<string, unknown> = {
    image_path: job.imagePath,
    accelerator: c.accelerator,
    graceful_shutdown: true,
    guest_agent: c.guestAgent,
    args: c.args,
  };
  if (c.machineType !== undefined) config.machine_type = c.machineType;
  if (c.driveInterface !== undefined) config.drive_interface = c.driveInterface;
  if (job.ports.length > 0) {
    config.port_map = [Object.fromEntries(job.ports.map((p) => [p.label, p.guest]))];
  }
  const task: Record<string, unknown> = {
    Name: job.name,
    Driver: "qemu",
    Config: config,
    KillTimeout: job.killTimeoutS * 1e9,
    Resources: { MemoryMB: c.memoryMb, Cores: c.cores },
    Artifacts: job.artifacts.map((a) => ({
      GetterSource: a.source,
      GetterMode: "file",
      RelativeDest: a.destination,
      ...(a.checksum === undefined ? {} : { GetterOptions: { checksum: a.checksum } }),
    })),
  };
  const group: Record<string, unknown> = { Name: job.name, Count: 1, Tasks: [task] };
  if (job.ports.length > 0) {
    group.Networks = [{
      ReservedPorts: job.ports.map((p) => ({ Label: p.label, Value: p.static })),
    }];
  }
  return {
    Job: {
      ID: job.name,
      Name: job.name,
      Type: "service",
      Datacenters: [job.datacenter],
      TaskGroups: [group],
    },
  };
}
