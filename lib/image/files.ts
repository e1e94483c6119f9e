/**
 * Finding and reading picture files: a file, or every file of a directory
 * whose extension is one of {@linkcode IMAGE_EXTENSIONS} (`.png`, `.jpg`,
 * `.jpeg`).
 *
 * @module
 */
import { extname, join } from "node:path";
import { ImageError } from "../errors.ts";
import { decodeImage, IMAGE_EXTENSIONS, type RgbaImage } from "./decode.ts";

const isPicture = (path: string) =>
  IMAGE_EXTENSIONS.includes(extname(path).toLowerCase());

/**
 * The picture files `paths` name, in order: each file as given, each
 * directory's pictures ({@linkcode IMAGE_EXTENSIONS}) sorted by name.
 *
 * @throws {ImageError} for a path that does not exist or a directory with no
 * picture.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { listImages } from "./files.ts";
 * const files = await listImages(["notebooks/sample_digits"]);
 * assertEquals(files.length, 10);
 * assertEquals(files[0], "notebooks/sample_digits/digit_0.png");
 * ```
 */
export async function listImages(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (error) {
      throw new ImageError(path, reason(error), { kind: "unreadable" });
    }
    if (!info.isDirectory) {
      files.push(path);
      continue;
    }
    const found: string[] = [];
    for await (const entry of Deno.readDir(path)) {
      if (entry.isFile && isPicture(entry.name)) {
        found.push(join(path, entry.name));
      }
    }
    if (found.length === 0) {
      throw new ImageError(
        path,
        `no ${IMAGE_EXTENSIONS.join(", ")} pictures in this directory`,
        { kind: "unreadable" },
      );
    }
    files.push(...found.sort());
  }
  return files;
}

/**
 * Reads and decodes one picture file.
 *
 * @throws {ImageError} when it cannot be read or decoded.
 */
export async function readImage(path: string): Promise<RgbaImage> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new ImageError(path, reason(error), { kind: "unreadable" });
  }
  return decodeImage(bytes, path);
}

function reason(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file or directory";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "is a directory";
  return `cannot be read: ${error instanceof Error ? error.message : error}`;
}
