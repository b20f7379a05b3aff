/**
 * What a VM's screen shows, as text: QMP `screendump` tells the display's
 * size; a VGA text mode (80×25 cells, 720×400 or 640×400 pixels: the
 * firmware's screens, SeaBIOS's "No bootable device.") is read back as the
 * characters in video memory at 0xB8000 (QMP `pmemsave`), a graphics mode
 * is told by its size. QEMU writes both files into the VM's private
 * `supervise/` (`screen`), removed once read. Connects to
 * `<vm>/supervise/qmp`.
 * @module
 */

import { join } from "../os/path.ts";
import { VmError } from "../errors.ts";
import { removeIfExists } from "../os/fs.ts";
import { F } from "../layout.ts";
import { showable } from "../text/guest_text.ts";
import { QmpClient } from "./qmp.ts";

/** A screen: the lines of a text mode that show anything, or a graphics mode's size. */
export type ScreenText =
  | { kind: "text"; lines: string[] }
  | { kind: "graphics"; width: number; height: number };

/** Where the VGA text mode keeps its characters, and the size of 80×25 cells. */
const TEXT_MEMORY = 0xb8000;
const COLUMNS = 80;
const ROWS = 25;

/** Width and height of a binary PPM (`P6 <w> <h> <max>`), or undefined. Pure. */
export function ppmSize(head: Uint8Array): { width: number; height: number } | undefined {
  const text = new TextDecoder("latin1").decode(head.subarray(0, 64));
  const m = /^P6\s+(?:#[^\n]*\n\s*)*(\d+)\s+(\d+)\s/.exec(text);
  return m === null ? undefined : { width: Number(m[1]), height: Number(m[2]) };
}

/** Whether a display of this size is a VGA text mode of 80×25 cells (9 or 8 pixels wide). Pure. */
export function isTextMode(size: { width: number; height: number }): boolean {
  return size.height === 400 && (size.width === 720 || size.width === 640);
}

/**
 * The lines of 80×25 VGA text cells (character, attribute) that show
 * anything: printable ASCII kept, other code page 437 characters as spaces,
 * each line made showable. Pure.
 */
export function vgaTextLines(cells: Uint8Array): string[] {
  const lines: string[] = [];
  for (let row = 0; row < ROWS; row++) {
    let line = "";
    for (let col = 0; col < COLUMNS; col++) {
      const c = cells[(row * COLUMNS + col) * 2] ?? 0x20;
      line += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : " ";
    }
    const shown = showable(line);
    if (shown !== "") lines.push(shown);
  }
  return lines;
}

/**
 * The VM's screen in `dir`, within `timeoutMs`: undefined when QEMU has no
 * display to dump or does not answer (QMP busy with another client, QEMU
 * gone). Writes and removes `<dir>/supervise/screen`.
 */
export async function screenText(dir: string, timeoutMs = 3000): Promise<ScreenText | undefined> {
  const file = join(dir, F.screen);
  let qmp: QmpClient | undefined;
  try {
    qmp = await QmpClient.connect(join(dir, F.qmp), { timeoutMs });
    await qmp.execute("screendump", { filename: file }, { timeoutMs });
    const size = ppmSize(await readHead(file));
    if (size === undefined) return undefined;
    if (!isTextMode(size)) return { kind: "graphics", ...size };
    const args = { val: TEXT_MEMORY, size: COLUMNS * ROWS * 2, filename: file };
    await qmp.execute("pmemsave", args, { timeoutMs });
    return { kind: "text", lines: vgaTextLines(Deno.readFileSync(file)) };
  } catch (e) {
    if (e instanceof VmError || e instanceof Deno.errors.NotFound) return undefined; // no screen
    throw e;
  } finally {
    qmp?.close();
    removeIfExists(file);
  }
}

/** The first bytes of `file` (a PPM's header). */
async function readHead(file: string): Promise<Uint8Array> {
  using f = await Deno.open(file);
  const buf = new Uint8Array(64);
  const n = await f.read(buf);
  return buf.subarray(0, n ?? 0);
}
