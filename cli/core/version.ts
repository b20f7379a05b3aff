/**
 * The version of `vm`: the one place it is written (`vm --version`, `vm help`).
 * @module
 */

/** This release of `vm`. */
export const VERSION = "0.9.0";
