/**
 * Every file and directory name `vm` uses in `$VMDIR` and its VM
 * directories, defined once: the one place each name is written (each
 * layer of lib/ builds paths from these). A VM directory is a runit
 * service directory; the names are relative to it (or to `$VMDIR`). The
 * bottom of lib/ with lib/errors.ts: imports nothing. Pure.
 * @module
 */

/** The entry of network `name` in `$VMDIR`: `@NAME` (see {@link NET}). Pure. */
export function netEntry(name: string): string {
  return `@${name}`;
}

/** The network an entry of `$VMDIR` is (`@NAME` → NAME), or undefined. Pure. */
export function netOfEntry(entry: string): string | undefined {
  return entry.startsWith(netEntry("")) ? entry.slice(1) : undefined;
}

/** The hidden VM directory holding the default templates and service scripts. */
export const DEFAULT_VM = ".default";

/** Names inside a VM directory (relative paths). */
export const F = {
  /** Directory of QEMU argument files. */
  templates: "templates",
  /** Template used for one start, then deleted. */
  once: "templates/once",
  /** The VM's first disk, created by `vm make`. */
  drive: "drive.qcow2",
  /** Seconds the guest gets to power off. */
  wait: "wait",
  /** runit: present = no autostart. */
  down: "down",
  /** Shell file defining pre_qemu, post_qemu, cleanup. */
  hooks: "hooks",
  /** runit: the log service directory. */
  log: "log",
  /** The log service's run script (a link into `.default`, as `run`). */
  logRun: "log/run",
  /** svlogd's directory inside `log/`. */
  logMain: "log/main",
  /** The current log file. */
  logCurrent: "log/main/current",
  /** runit service scripts. */
  run: "run",
  finish: "finish",
  control: "control",
  controlT: "control/t",
  /** runit's state directory and its files. */
  supervise: "supervise",
  status: "supervise/status",
  ok: "supervise/ok",
  controlFifo: "supervise/control",
  pid: "supervise/pid",
  /** Our sockets, inside runit's 0700 supervise directory. */
  monitor: "supervise/monitor",
  qmp: "supervise/qmp",
  console: "supervise/console",
  /** QEMU's VNC server (template `vnc`), private like the monitor. */
  vnc: "supervise/vnc",
  /** The guest agent's channel (the guest-agent template). */
  agent: "supervise/agent",
  /** Held (flock) by the one `vm console` / `vm monitor` attached: QEMU serves one client. */
  consoleLock: "supervise/console-lock",
  monitorLock: "supervise/monitor-lock",
  /** How the last graceful stop ended, written by `vm __stop` (lib/vm/stop_record.ts). */
  stopRecord: "supervise/stop",
  /**
   * vmd's stop of the VM (host shutdown), locked while it runs, then its outcome for
   * `control/t` and `finish` (lib/service/vmd_stop.ts; named in default/control/t, finish).
   */
  vmdStop: "supervise/vmd-stop",
  /** A dump of the VM's screen, written by QEMU for lib/qemu/screen.ts and removed once read. */
  screen: "supervise/screen",
  /** Crash-loop backoff state, written by `vm __finish`. */
  backoff: "backoff",
  /** Locked (flock) by a command changing the VM's files (lib/vm/lock.ts); also in `$VMDIR`. */
  lock: ".lock",
  /** Port forwards of the user-mode network (lib/vm/ports.ts). */
  ports: "ports",
  /** The guest's architecture (`x86_64`, `aarch64`, `riscv64`): QEMU is `qemu-system-<arch>`. */
  arch: "arch",
  /** The VM's own UEFI variable store, copied from the firmware's template at make time. */
  efivars: "efivars.fd",
  /** The TPM's state (swtpm's `--tpmstate dir=`), 0700. */
  tpmState: "tpm",
  /** swtpm's control socket, which QEMU's `-chardev socket` of the `tpm` template connects to. */
  tpmSocket: "supervise/tpm",
  /** Shared folders (virtiofs), one per line (lib/vm/shares.ts). */
  shares: "shares",
  /** The VM's NICs on private networks and bridges, with their MACs and addresses (lib/vm/network.ts). */
  networks: "networks",
} as const;

/**
 * A private network (`vm net`): a runit service directory `$VMDIR/@NAME`
 * whose `run` is `vm __switch` (lib/vm/network.ts, lib/service/switch.ts).
 * `@` is not in a VM name: listings of VMs never see a network.
 */
export const NET = {
  /** Its settings (`subnet=10.86.0.0/24`). */
  config: "net.conf",
  /** The switch's datagram socket. */
  socket: "sock",
  /** The VMs' datagram sockets, one per attached MAC (12 hex digits), bound by QEMU. */
  ports: "ports",
  /** The switch's sending sockets, one per port it sends to (named as in `ports/`). */
  tx: "tx",
  /** The run script in `default/` and `.default/` a network's `run` links to. */
  run: "net/run",
} as const;

/** A shared folder's virtiofsd socket in `supervise/` is this prefix and its tag (lib/vm/shares.ts). */
export const SHARE_SOCKET_PREFIX = "fs-";

/** The sockets `vm __run` makes QEMU create and `vm __finish` removes. */
export const SOCKETS = [F.monitor, F.qmp, F.console, F.vnc, F.agent, F.tpmSocket] as const;

/** Directory layout of `default/` (the `.default` tree) for the service scripts. */
export const SCRIPTS = [F.run, F.finish, F.controlT, F.logRun] as const;

/** The template holding one-time arguments. */
export const ONCE_TEMPLATE = "once";

/**
 * vmd's service files (`vm daemon` under runit or systemd): shipped as
 * `default/vmd/run` and `vmd.service` at the source root, rendered into
 * `.default/` by setup, installed by `vm service install`.
 */
export const VMD = {
  /** The service's name (runit service directory, systemd unit `vmd.service`). */
  name: "vmd",
  /** The runit service's run script, relative to `default/` and `.default/`. */
  run: "vmd/run",
  /** The systemd user unit, at the source root and in `.default/`. */
  unit: "vmd.service",
} as const;

/** The templates `vm make --image` writes for cloud-init (lib/cloud_init, lib/qemu/guest_agent.ts). */
export const CLOUD_TEMPLATES = {
  /** Attaches `seed.iso`, the NoCloud seed. */
  seed: "cloud-init",
  /** The guest agent's virtio-serial channel to `supervise/agent`. */
  agent: "guest-agent",
  /** User-mode network with the `ports` file's forwards. */
  net: "net-user-fwd",
} as const;

/**
 * The templates of the machine (lib/vm/machine.ts): shipped in `default/templates`, chosen by
 * `vm make --arch/--firmware/--secure-boot/--tpm/--windows`. `uefi` and `uefi-secure-boot`
 * share a prefix (choosing one drops the other); so do `tpm` and `tpm-virt` (aarch64: tpm-tis-device).
 */
export const MACHINE_TEMPLATES = {
  /** `-machine virt -cpu max` and a ramfb display: aarch64 and riscv64. */
  virt: "machine-virt",
  /** UEFI: the code pflash (`$VM_UEFI_CODE`) and the VM's `efivars.fd`. */
  uefi: "uefi",
  /** UEFI with Secure Boot: q35 with SMM, a secure pflash (`$VM_UEFI_SECURE_CODE`). */
  secureBoot: "uefi-secure-boot",
  /** TPM 2.0: swtpm's socket `supervise/tpm` as a `tpm-crb` device (x86_64). */
  tpm: "tpm",
  /** TPM 2.0 on aarch64: `tpm-tis-device`. */
  tpmVirt: "tpm-virt",
  /** The Windows preset's devices (e1000e, USB tablet, Hyper-V enlightenments, local RTC). */
  windows: "windows",
  /** The Windows preset's second CD-ROM (`--drivers virtio-win.iso`), written by `vm make`. */
  drivers: "windows-drivers",
} as const;

/** The NoCloud seed of a VM made with `--image` and its sources (lib/cloud_init/seed_file.ts). */
export const SEED_FILES = {
  iso: "seed.iso",
  dir: "cloud-init",
  metaData: "cloud-init/meta-data",
  userData: "cloud-init/user-data",
  extraUserData: "cloud-init/extra-user-data",
  networkConfig: "cloud-init/network-config",
} as const;

/** A VM's SSH files (lib/ssh/key_files.ts): the guest's host key, its pin, the login user. */
export const SSH_FILES = {
  dir: "ssh",
  hostKey: "ssh/ssh_host_ed25519_key",
  hostKeyPub: "ssh/ssh_host_ed25519_key.pub",
  knownHosts: "ssh/known_hosts",
  user: "ssh/user",
} as const;

/** vm's own SSH client key pair, relative to `$VMDIR`. */
export const CLIENT_KEY = {
  dir: `${DEFAULT_VM}/ssh`,
  private: `${DEFAULT_VM}/ssh/id_ed25519`,
  public: `${DEFAULT_VM}/ssh/id_ed25519.pub`,
} as const;

/** The cloud image cache in `$VMDIR` (a dot-name: never taken for a VM; lib/images/store.ts). */
export const IMAGES_DIR = ".images";

/**
 * The backups of `vm backup` (lib/actions/backup.ts): `$VMDIR/.backups/<vm>/`
 * (a dot-name: never taken for a VM) or `<--to DIR>/<vm>/`, one directory
 * per backup named by its id, each holding a qcow2 file per disk, the
 * manifest and the VM's files (`vm-files/`).
 */
export const BACKUPS_DIR = ".backups";

/** Names inside one backup's directory. */
export const BACKUP_FILES = {
  /** What the backup is (lib/vm/backup_manifest.ts), written last. */
  manifest: "backup.json",
  /** The VM's files but its disks and runit's state: templates, wait, ports, firmware vars… */
  config: "vm-files",
} as const;
