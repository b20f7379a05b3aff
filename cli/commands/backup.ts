/**
 * `vm backup <vm> [--full] [--to DIR]`, `vm backup list <vm>`, `vm backup
 * prune <vm> --keep N` and `vm restore <vm> <id> [--as NEW]`: live and
 * stopped backups of a VM's disks, full and incremental
 * (lib/actions/backup.ts, backup_restore.ts).
 * @module
 */

import { backupBytes, BackupCancelled, backupVm } from "../../lib/actions/backup.ts";
import { pruneBackups, restoreBackup } from "../../lib/actions/backup_restore.ts";
import { backupStore, chainProblem, listBackups } from "../../lib/vm/backup_store.ts";
import type { Manifest } from "../../lib/vm/backup_manifest.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { formatBytes } from "../../lib/text/units.ts";
import { visible } from "../../lib/text/visible.ts";
import { type CommandSpec, defineCommand, VM } from "../core/command.ts";
import { alignColumns, formatDate } from "../core/format.ts";
import { print, printErr } from "../core/output.ts";
import { optFlag, optString, refuse, wrongArguments } from "../core/parse.ts";
import { progress } from "../core/progress.ts";
import { summaryLine } from "../core/progress_line.ts";

/** The row of `vm backup`. */
const BACKUP_ROW = {
  name: "backup",
  summary: "back up a VM's disks, running or stopped (full, then incremental)",
  args: [
    { name: "<vm>|list|prune", kind: "vm" },
    { name: "<vm>", kind: "vm", optional: true },
  ],
  options: [
    { name: "full", help: "a full backup even when an incremental one can be made" },
    {
      name: "to",
      value: "DIR",
      complete: "file",
      help: "the backups live in DIR/<vm>/ (default $VMDIR/.backups/<vm>/)",
    },
    { name: "json", help: "list: an array of {id, time_s, kind, parent, bytes, live, frozen}" },
    { name: "keep", value: "N", help: "prune: keep the newest N backups (at least 1)" },
  ],
  help: [
    "vm backup <vm>: every disk of the VM; running, through QEMU's block jobs (the guest",
    "keeps running; frozen for the moment of the backup point when its agent answers),",
    "stopped, the same jobs on its disks opened by qemu-storage-daemon. The first backup",
    "is full; later ones copy only what changed (a dirty bitmap on each qcow2 disk; raw",
    "disks: always full).",
    "vm backup list <vm>: id, time, kind, bytes. vm backup prune <vm> --keep N: removes",
    "the older backups, merging each into its successor, so every kept one restores",
    "exactly. Ctrl-C cancels a backup: nothing half-made is kept. vm restore restores one",
  ],
} as const satisfies CommandSpec;

/** Stops on Ctrl-C/TERM: `work` gets a signal that aborts. */
async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctl = new AbortController();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const onStop = () => ctl.abort();
  for (const s of signals) Deno.addSignalListener(s, onStop);
  try {
    return await work(ctl.signal);
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onStop);
  }
}

/** The rows of `vm backup list`. Pure. */
export function backupRows(backups: readonly Manifest[]): string[][] {
  return [
    ["ID", "TIME", "KIND", "BYTES", "FROZEN"],
    ...backups.map((b) => [
      b.id,
      formatDate(b.time),
      b.kind + (b.live ? "" : " (stopped)"),
      formatBytes(backupBytes(b)),
      b.frozen ? "yes" : "no",
    ]),
  ];
}

/** The `vm backup list --json` objects. Pure. */
export function backupsJson(backups: readonly Manifest[]): object[] {
  return backups.map((b) => ({
    id: b.id,
    time_s: b.time,
    kind: b.kind,
    parent: b.parent ?? null,
    bytes: backupBytes(b),
    live: b.live,
    frozen: b.frozen,
    disks: b.disks.map((d) => ({ name: d.name, size: d.size, bytes: d.bytes })),
  }));
}

/** `vm backup`. */
export const backup = defineCommand(BACKUP_ROW, {
  async run(inv) {
    const [first = "", second] = inv.args;
    const op = second === undefined ? "create" : first;
    const name = second ?? first;
    if (op !== "create" && op !== "list" && op !== "prune") {
      refuse(BACKUP_ROW, `Unknown backup operation "${op}": use list or prune`);
    }
    if (inv.args.length === 0) wrongArguments(BACKUP_ROW);
    const to = optString(inv, "to");
    const keep = optString(inv, "keep");
    if (op !== "list" && optFlag(inv, "json")) refuse(BACKUP_ROW, '"--json" is for "list" only');
    if (op !== "prune" && keep !== undefined) refuse(BACKUP_ROW, '"--keep" is for "prune" only');
    if (op !== "create" && optFlag(inv, "full")) refuse(BACKUP_ROW, '"--full" is for a backup');
    const cfg = loadConfig();
    if (op === "list") {
      const store = backupStore(cfg.vmdir, name, to);
      const { backups, broken } = listBackups(store);
      if (optFlag(inv, "json")) print(JSON.stringify(backupsJson(backups), null, 2));
      else if (backups.length === 0) print(`VM "${name}" has no backups`);
      else print(alignColumns(backupRows(backups)));
      for (const [id, why] of broken) {
        printErr(visible(`vm: backup ${id} of VM "${name}" is broken: ${why}`));
      }
      for (const b of backups) {
        const why = chainProblem(store, backups, b.id);
        if (why !== undefined) {
          printErr(visible(`vm: backup ${b.id} of VM "${name}" cannot be restored: ${why}`));
        }
      }
      return 0;
    }
    if (op === "prune") {
      if (keep === undefined || !/^[0-9]+$/.test(keep)) {
        refuse(BACKUP_ROW, `prune needs "--keep N", N a whole number of at least 1`);
      }
      const r = await pruneBackups(cfg, name, Number(keep), to);
      print(
        r.removed.length === 0
          ? `VM "${name}" has at most ${keep} backup(s): nothing to prune`
          : `Removed ${r.removed.length} backup(s) of VM "${name}" (${r.removed.join(", ")})` +
            (r.merged.length > 0 ? `; merged into ${r.merged.join(", ")}` : ""),
      );
      return 0;
    }
    requireVm(cfg.vmdir, name);
    const p = progress(`backup ${name}`);
    const t0 = performance.now();
    try {
      const r = await interruptible((signal) =>
        backupVm(cfg, name, {
          full: optFlag(inv, "full"),
          ...(to === undefined ? {} : { to }),
          onProgress: (done, total) => p.update(done, total),
          signal,
        })
      );
      p.clear();
      for (const n of r.notes) printErr(visible(`vm: ${name}: ${n}`));
      const m = r.manifest;
      const how = `${m.kind}, ${m.live ? "live" : "stopped"}, ${
        m.frozen ? "frozen" : "not frozen"
      }`;
      p.finish(
        summaryLine(`Backup ${m.id} of "${name}"`, backupBytes(m), performance.now() - t0, how),
      );
      return 0;
    } catch (e) {
      p.clear();
      if (e instanceof BackupCancelled) {
        printErr(`vm: ${e.message}`);
        return 130;
      }
      throw e;
    }
  },
});

/** The row of `vm restore`. */
const RESTORE_ROW = {
  name: "restore",
  summary: "restore a backup of a stopped VM, or as a new VM",
  args: [VM, { name: "<id>", kind: "none" }],
  options: [
    { name: "as", value: "NEW", help: "restore into a new VM NEW (down, new MAC addresses)" },
    { name: "to", value: "DIR", complete: "file", help: "the backups live in DIR/<vm>/" },
  ],
  help: [
    "writes the backup's disks (and the VM's files it saved: templates, wait, ports…) back",
    'over the VM, which must be stopped; with --as, makes a new VM instead. "vm backup',
    'list <vm>" shows the ids',
  ],
} as const satisfies CommandSpec;

/** `vm restore`. */
export const restore = defineCommand(RESTORE_ROW, {
  async run(inv) {
    if (inv.args.length !== 2) wrongArguments(RESTORE_ROW);
    const [name = "", id = ""] = inv.args;
    const as = optString(inv, "as");
    const to = optString(inv, "to");
    const cfg = loadConfig();
    if (as === undefined) requireVm(cfg.vmdir, name);
    const r = await restoreBackup(cfg, name, id, {
      ...(as === undefined ? {} : { as }),
      ...(to === undefined ? {} : { to }),
    });
    print(
      as === undefined
        ? `Restored backup ${id} over VM "${name}"`
        : `Restored backup ${id} of VM "${name}" as new VM "${r.vm}" (down)`,
    );
    return 0;
  },
});
