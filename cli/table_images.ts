/**
 * The command table's rows for cloud images: `vm image pull|list|import|rm`
 * (run by cli/commands/image.ts), and the options `vm make` takes to start from an
 * image (`MAKE_IMAGE_OPTIONS`, for the `make` row). Types only are imported:
 * this file is loaded on every start.
 * @module
 */

import type { CommandSpec, OptionSpec } from "./core/command.ts";

/** Options choosing and checking an image, shared by `vm image pull` and `vm make --image`. */
const CHECK_OPTIONS: readonly OptionSpec[] = [
  { name: "sha256", value: "H", help: "the image's SHA-256 (overrides the catalog's SUMS file)" },
  { name: "sha512", value: "H", help: "the image's SHA-512 (overrides the catalog's SUMS file)" },
  {
    name: "arch",
    value: "A",
    complete: ["x86_64", "aarch64"],
    help: "the catalog entry for QEMU arch A (default: VMCONF_QEMU_ARCH or the host's)",
  },
  {
    name: "insecure",
    help: "take a URL that has no checksum unverified (its SHA-256 is printed)",
  },
];

/** The options `vm make` adds for `--image` (to be spread into its row's options). */
export const MAKE_IMAGE_OPTIONS: readonly OptionSpec[] = [
  {
    name: "image",
    value: "IMAGE",
    complete: "disk-image",
    help: "start from a cloud image: a catalog name, a URL or a disk image file\n" +
      "(pulled or imported into the cache if needed; the disk is a qcow2 overlay on it)",
  },
  { name: "copy", help: "with --image: a standalone copy of the image instead of an overlay" },
  ...CHECK_OPTIONS,
];

/** `vm image` and its subcommands. */
export const IMAGE_COMMANDS: CommandSpec[] = [
  {
    name: "image",
    summary: "cloud images: pull, list, import, rm (the cache in $VMDIR/.images)",
    args: [],
    help: [
      "The catalog is default/images.conf; add or replace entries in $VMDIR/.default/images.conf",
      "(or the file VMCONF_IMAGES names): [name] blocks of arch, kind (disk|iso), url, sums,",
      "file (a glob picking the dated file from the SUMS file), sha256/sha512.",
    ],
    subcommands: [
      {
        name: "pull",
        summary: "downloads an image into the cache (resumes, verifies its checksum)",
        args: [{ name: "<name|url>", kind: "image" }],
        options: CHECK_OPTIONS,
        help: [
          "A catalog name, or an https://, http:// or file:// URL (it needs --sha256/--sha512,",
          "or --insecure). Interrupted or failed downloads leave <name>.<ext>.part in",
          "$VMDIR/.images; pulling again resumes it. Exit 111 when the download or its",
          "checksum fails, or the server stops answering: VMCONF_HTTP_CONNECT_TIMEOUT,",
          "VMCONF_HTTP_HEADER_TIMEOUT and VMCONF_HTTP_IDLE_TIMEOUT set the waits (30, 30, 60 s).",
        ],
        module: "commands/image.ts",
        entry: "pullCommand",
      },
      {
        name: "list",
        summary: "the catalog and the cache: NAME, ARCH, KIND, SIZE, CACHED, USED BY",
        args: [],
        options: [
          { name: "json", help: "a JSON array of objects instead of the table" },
          {
            name: "arch",
            value: "A",
            complete: ["x86_64", "aarch64"],
            help: "the catalog for QEMU arch A (default: VMCONF_QEMU_ARCH or the host's)",
          },
        ],
        module: "commands/image.ts",
        entry: "listCommand",
      },
      {
        name: "import",
        summary: "adds a local disk image (qcow2, raw, img) to the cache as a qcow2",
        args: [{ name: "<name>", kind: "none" }, { name: "<file>", kind: "file" }],
        help: ["A raw image is converted; a qcow2 is copied standalone (no backing file)."],
        module: "commands/image.ts",
        entry: "importCommand",
      },
      {
        name: "rm",
        summary: "removes an image from the cache (refused while a VM's disk is backed by it)",
        args: [{ name: "<name>", kind: "image" }],
        module: "commands/image.ts",
        entry: "rmCommand",
      },
    ],
  },
];
