/**
 * Test pictures made by Debian's Pillow (`python3-pil`, installed by
 * `.ci/run`; tests only): digits in several fonts and styles
 * (`make_pictures.py`), clean printed digits (`make_font_digits.py`), one digit in every PNG colour type and as JPEG with
 * Pillow's own decoding beside it, and bad files (`make_formats.py`); MNIST
 * test digits as photographed handwriting (`make_photos.py`, with NumPy).
 *
 * @module
 */
import { fileURLToPath } from "node:url";

const PYTHON = "/usr/bin/python3";
const CI = Deno.env.get("CI") === "true";

/** Why Pillow cannot make pictures here, or undefined when it can. */
export async function missingPillow(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(PYTHON, {
      args: ["-c", "import PIL, numpy"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success
      ? undefined
      : "python3-pil and python3-numpy are not installed";
  } catch {
    return `${PYTHON} not found`;
  }
}

/** True when picture tests must be skipped (never under CI=true). */
export async function skipPictures(): Promise<boolean> {
  const missing = await missingPillow();
  if (missing && CI) throw new Error(`cannot make test pictures: ${missing}`);
  if (missing) console.warn(`SKIPPED: cannot make test pictures: ${missing}`);
  return missing !== undefined;
}

async function run(script: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(PYTHON, {
    args: [fileURLToPath(new URL(script, import.meta.url)), ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `${script} failed: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

/**
 * Draws `perDigit` pictures of each digit into a new temporary directory;
 * returns it and the label of each file.
 */
export async function makeDigitPictures(
  perDigit = 10,
): Promise<{ dir: string; labels: Record<string, number> }> {
  const dir = await Deno.makeTempDir({ prefix: "digit_pictures_" });
  await run("./make_pictures.py", [dir, String(perDigit)]);
  const labels = JSON.parse(await Deno.readTextFile(`${dir}/labels.json`));
  return { dir, labels };
}

/**
 * Draws the digits 0–9 in six ordinary fonts, black on white, as typed,
 * printed or screenshot (`make_font_digits.py`), `size`-point glyphs centred
 * in `side`-pixel squares, into a new temporary directory; returns it and
 * the label of each file.
 */
export async function makeFontDigits(
  size = 64,
  side = 100,
): Promise<{ dir: string; labels: Record<string, number> }> {
  const dir = await Deno.makeTempDir({ prefix: "font_digits_" });
  await run("./make_font_digits.py", [dir, String(size), String(side)]);
  const labels = JSON.parse(await Deno.readTextFile(`${dir}/labels.json`));
  return { dir, labels };
}

/** Writes the format and bad-file set into a new temporary directory. */
export async function makeFormatPictures(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "format_pictures_" });
  await run("./make_formats.py", [dir]);
  return dir;
}

/**
 * Renders the first `count` MNIST test digits as photographed handwriting
 * (`make_photos.py`: uneven light, grain, blur, rotation, ruled or squared
 * paper, faint pencil, PNG and JPEG) into a new temporary directory; returns
 * it and the files in digit order with their labels.
 */
export async function makePhotoPictures(
  mnistDir: string,
  count: number,
  seed = 19,
): Promise<{ dir: string; files: string[]; labels: number[] }> {
  const dir = await Deno.makeTempDir({ prefix: "photo_pictures_" });
  await run("./make_photos.py", [
    `${mnistDir}/t10k-images-idx3-ubyte`,
    `${mnistDir}/t10k-labels-idx1-ubyte`,
    dir,
    String(count),
    String(seed),
  ]);
  const named: Record<string, number> = JSON.parse(
    await Deno.readTextFile(`${dir}/labels.json`),
  );
  return { dir, files: Object.keys(named), labels: Object.values(named) };
}
