/**
 * HDF5 access through `h5wasm` (the HDF5 C library compiled to WASM), in
 * its own in-memory file system: files are read and written with Deno's
 * APIs (so tasks need no permission beyond the files themselves), opened
 * read-only with a clear error, attributes read as strings, and the
 * fixed-length byte-string attributes Keras 2 writes written.
 *
 * @module
 */
import type H5Wasm from "h5wasm";
import { ModelFileError } from "../errors.ts";

/** The library, imported on first use: it compiles its WASM when imported. */
let h5wasm: typeof H5Wasm;

/** An open HDF5 file. */
export type H5File = InstanceType<typeof H5Wasm.File>;
/** A group of an HDF5 file. */
export type H5Group = InstanceType<typeof H5Wasm.Group>;
/** A dataset of an HDF5 file. */
export type H5Dataset = InstanceType<typeof H5Wasm.Dataset>;

/** HDF5's signature, at the start of a file. */
const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

let loaded: Promise<void> | undefined;
/** The library's in-memory file system, once loaded. */
let fs: MemFs | undefined;

/** The parts of Emscripten's file system used here. */
interface MemFs {
  writeFile(path: string, data: Uint8Array): void;
  readFile(path: string): Uint8Array;
  unlink(path: string): void;
}

/**
 * Imports and loads the HDF5 library (once; importing this module does not,
 * so programs that never touch HDF5 do not pay for it), with HDF5's errors
 * thrown as exceptions
 * (which the readers turn into a {@linkcode ModelFileError}) instead of
 * printed on stderr.
 */
export function ready(): Promise<void> {
  loaded ??= import("h5wasm").then((library) => {
    h5wasm = library.default;
    return h5wasm.ready;
  }).then((module) => {
    const m = module as unknown as {
      activate_throwing_error_handler(): number;
      FS: MemFs;
    };
    m.activate_throwing_error_handler();
    fs = m.FS;
  });
  return loaded;
}

/** The in-memory file system of the HDF5 library (after {@linkcode ready}). */
function memfs(): MemFs {
  if (!fs) throw new TypeError("h5wasm is not loaded: await ready() first");
  return fs;
}

let files = 0;

/** An HDF5 file open in memory; `close()` closes and frees it. */
export interface OpenH5 {
  /** The file. */
  file: H5File;
  /** Closes the file and frees its memory. */
  close(): void;
}

/**
 * Opens HDF5 bytes, or the file at `source`, for reading; `name` names it in
 * errors.
 *
 * @throws {ModelFileError} when it is missing, not HDF5, or corrupt.
 */
export async function openH5(
  source: string | Uint8Array,
  name = typeof source === "string" ? source : "HDF5 data",
): Promise<OpenH5> {
  await ready();
  let bytes: Uint8Array;
  if (typeof source === "string") {
    try {
      bytes = await Deno.readFile(source);
    } catch (error) {
      throw new ModelFileError(
        name,
        error instanceof Deno.errors.NotFound
          ? "no such file"
          : `cannot be read: ${(error as Error).message}`,
      );
    }
  } else {
    bytes = source;
  }
  if (!SIGNATURE.every((b, i) => bytes[i] === b)) {
    throw new ModelFileError(name, "not an HDF5 file (no HDF5 signature)");
  }
  const path = `/read-${files++}.h5`;
  memfs().writeFile(path, bytes);
  let file: H5File;
  try {
    file = new h5wasm.File(path, "r");
  } catch (error) {
    memfs().unlink(path);
    throw new ModelFileError(name, hdf5Problem(error));
  }
  return {
    file,
    close() {
      try {
        file.close();
      } catch { /* a corrupt file may already be unusable */ }
      memfs().unlink(path);
    },
  };
}

/**
 * Builds an HDF5 file in memory with `build` and returns its bytes, for the
 * caller to write (atomically) where it belongs.
 */
export async function buildH5(
  build: (file: H5File) => void,
): Promise<Uint8Array> {
  await ready();
  const path = `/write-${files++}.h5`;
  const file = new h5wasm.File(path, "w");
  try {
    build(file);
  } finally {
    file.close();
  }
  const bytes = memfs().readFile(path);
  memfs().unlink(path);
  return bytes;
}

/**
 * "corrupt or truncated HDF5 file", with HDF5's own reason when it gives one
 * (the last `minor:` line of its error stack).
 */
export function hdf5Problem(error: unknown): string {
  const text = String((error as Error)?.message ?? error);
  const minor = [...text.matchAll(/minor: (.+)/g)].at(-1)?.[1]?.trim();
  return `corrupt or truncated HDF5 file${
    minor ? ` (${minor.toLowerCase()})` : ""
  }`;
}

/** An attribute as a string (bytes decoded as UTF-8), or undefined. */
export function stringAttr(
  node: H5Group | H5File,
  key: string,
): string | undefined {
  const attr = node.attrs[key];
  if (!attr) return undefined;
  const value = attr.json_value;
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.length === 1) return String(value[0]);
  return undefined;
}

/** An attribute as a list of strings (empty when absent or empty). */
export function stringListAttr(node: H5Group | H5File, key: string): string[] {
  const attr = node.attrs[key];
  if (!attr) return [];
  const value = attr.json_value;
  if (Array.isArray(value)) return value.map(String);
  return typeof value === "string" ? [value] : [];
}

/** Writes `value` as a fixed-length byte string attribute (`|S<n>`), as Keras 2 does. */
export function writeBytesAttr(
  node: H5Group | H5File,
  key: string,
  value: string,
): void {
  const bytes = new TextEncoder().encode(value).length;
  node.create_attribute(key, value, null, `S${Math.max(1, bytes)}`);
}

/**
 * Writes a list of strings as an array of fixed-length byte strings, as
 * Keras 2's `save_attributes_to_hdf5_group` does (`|S<longest>`).
 */
export function writeBytesListAttr(
  node: H5Group | H5File,
  key: string,
  values: string[],
): void {
  const longest = Math.max(
    1,
    ...values.map((v) => new TextEncoder().encode(v).length),
  );
  node.create_attribute(key, values, [values.length], `S${longest}`);
}
