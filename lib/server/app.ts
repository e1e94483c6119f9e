/**
 * The drawing page's web app as one request handler: the page's fixed set of
 * static files, and `POST /api/predict`, which takes a picture (an upload in
 * one of the supported formats, PNG or JPEG, a multipart form with a file, or
 * JSON canvas pixels), runs it through the same MNIST-style preprocessing as
 * `deno task predict --image`, and answers with the model's classes and
 * probabilities as JSON; `POST /api/explain` takes the same and adds what
 * the model sees (the 28×28 input, conv1's feature maps, Grad-CAM and
 * saliency; `./explain.ts`). Bad requests get the right status (a picture's by
 * its error's kind, {@linkcode IMAGE_ERROR_STATUS}) and a JSON
 * `{"error": …}`; nothing a client sends can crash or hang it.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { fileURLToPath } from "node:url";
import { ImageError, type ImageErrorKind, UsageError } from "../errors.ts";
import {
  decodeImage,
  type RgbaImage,
  SUPPORTED_FORMATS,
} from "../image/decode.ts";
import { toMnistInput } from "../image/preprocess.ts";
import { predictInputs } from "../predict.ts";
import { explanationJson } from "./explain.ts";

/** The largest request body accepted, in bytes (8 MiB). */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;
/** How long a request body may take to arrive, in milliseconds (10 s). */
export const BODY_TIMEOUT_MS = 10_000;
/** The largest canvas accepted as JSON pixels, per side. */
export const MAX_CANVAS_SIDE = 2048;

/**
 * The HTTP status answering each kind of {@linkcode ImageError}: the
 * picture's format is not one the app decodes (415), it is over the limits
 * (413), corrupt (400), or shows no digit (422).
 */
export const IMAGE_ERROR_STATUS: Readonly<Record<ImageErrorKind, number>> = {
  unreadable: 400,
  unsupported: 415,
  corrupt: 400,
  "too-large": 413,
  "no-digit": 422,
};

/**
 * The content types `POST /api/predict` takes: a picture in one of the
 * supported formats' media types (or as `application/octet-stream`: the
 * format is read from the picture's signature either way), a multipart form
 * holding one, or JSON canvas pixels.
 */
export const PREDICT_CONTENT_TYPES: readonly string[] = [
  ...SUPPORTED_FORMATS.map((f) => f.mediaType),
  "application/octet-stream",
  "multipart/form-data",
  "application/json",
];

/** The page's files: URL path → file in `web/` and its content type. */
const STATIC_FILES: Readonly<Record<string, [string, string]>> = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/index.html": ["index.html", "text/html; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
  "/style.css": ["style.css", "text/css; charset=utf-8"],
  // The page links its icon; a browser asks for /favicon.ico all the same.
  "/favicon.svg": ["favicon.svg", "image/svg+xml"],
  "/favicon.ico": ["favicon.svg", "image/svg+xml"],
};

/** Where the page's files are. */
export const WEB_DIR: string = fileURLToPath(
  new URL("../../web/", import.meta.url),
);

/** Options of {@linkcode createHandler}. */
export interface AppOptions {
  /** The model that predicts. */
  model: tf.LayersModel;
  /** The page's files (default {@linkcode WEB_DIR}). */
  webDir?: string;
  /** The body limit in bytes (default {@linkcode MAX_BODY_BYTES}). */
  maxBodyBytes?: number;
  /** The body's time limit (default {@linkcode BODY_TIMEOUT_MS}). */
  bodyTimeoutMs?: number;
}

/** An error answered with `status` and `{"error": message}`. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const json = (
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });

/**
 * Makes the app's request handler, for `Deno.serve` or for tests.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createHandler } from "./app.ts";
 * import { buildModel, initBackend } from "../mod.ts";
 * await initBackend();
 * const handler = createHandler({ model: buildModel({ seed: 1 }) });
 * // `Deno.serve(handler)` serves the page; here one request goes straight in.
 * const png = await Deno.readFile("notebooks/sample_digits/digit_7.png");
 * const response = await handler(new Request("http://127.0.0.1/api/predict", {
 *   method: "POST",
 *   headers: { "content-type": "image/png" },
 *   body: png,
 * }));
 * assertEquals(response.status, 200);
 * assertEquals((await response.json()).probabilities[0].length, 10);
 * ```
 */
export function createHandler(
  options: AppOptions,
): (request: Request) => Promise<Response> {
  const webDir = options.webDir ?? WEB_DIR;
  const limit = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const timeout = options.bodyTimeoutMs ?? BODY_TIMEOUT_MS;
  return async (request) => {
    try {
      const path = new URL(request.url).pathname;
      if (path === "/api/predict" || path === "/api/explain") {
        if (request.method !== "POST") {
          throw new HttpError(405, `${request.method} ${path}: use POST`, {
            allow: "POST",
          });
        }
        const picture = await readPicture(request, limit, timeout);
        const input = toMnistInput(picture, { name: "request" });
        if (path === "/api/explain") {
          try {
            return json(200, explanationJson(options.model, input));
          } catch (error) {
            if (error instanceof UsageError) {
              throw new HttpError(
                422,
                `this model cannot be explained: ${error.message}`,
              );
            }
            throw error;
          }
        }
        const { classes, probabilities } = await predictInputs(options.model, [
          input,
        ]);
        return json(200, {
          classes,
          probabilities: probabilities.map((row) =>
            row.map((p) => Number(p.toFixed(6)))
          ),
        });
      }
      const file = STATIC_FILES[path];
      if (file === undefined) throw new HttpError(404, `${path}: not found`);
      if (request.method !== "GET" && request.method !== "HEAD") {
        throw new HttpError(405, `${request.method} ${path}: use GET`, {
          allow: "GET, HEAD",
        });
      }
      const body = await Deno.readFile(webDir + file[0]);
      return new Response(request.method === "HEAD" ? null : body, {
        headers: { "content-type": file[1], "cache-control": "no-cache" },
      });
    } catch (error) {
      if (error instanceof HttpError) {
        return json(error.status, { error: error.message }, error.headers);
      }
      if (error instanceof ImageError) {
        return json(IMAGE_ERROR_STATUS[error.kind], { error: error.message });
      }
      console.error(`error answering ${request.method} ${request.url}:`, error);
      return json(500, { error: "internal error" });
    }
  };
}

/**
 * Reads the request's body, refusing more than `limit` bytes (by its
 * Content-Length, and while reading, never buffering more).
 */
async function readBody(
  request: Request,
  limit: number,
  timeoutMs: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  const tooLarge = () =>
    new HttpError(413, `request body over the limit of ${limit} bytes`);
  if (declared > limit) {
    await request.body?.cancel();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body) {
    // A client that stops sending mid-body must not hold the request forever.
    const reader = request.body.getReader();
    const deadline = Date.now() + timeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      while (true) {
        const next = await Promise.race([
          reader.read(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () =>
                reject(
                  new HttpError(
                    408,
                    `request body not received within ${timeoutMs / 1000} s`,
                  ),
                ),
              Math.max(0, deadline - Date.now()),
            );
          }),
        ]);
        clearTimeout(timer);
        if (next.done) break;
        size += next.value.length;
        if (size > limit) throw tooLarge();
        chunks.push(next.value);
      }
    } catch (error) {
      clearTimeout(timer);
      await reader.cancel().catch(() => {});
      throw error;
    }
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  return body;
}

/** The picture a predict request carries, decoded. */
async function readPicture(
  request: Request,
  limit: number,
  timeout: number,
): Promise<RgbaImage> {
  const type = (request.headers.get("content-type") ?? "").split(";")[0].trim()
    .toLowerCase();
  if (type === "application/json") {
    return canvasPixels(await readBody(request, limit, timeout));
  }
  if (
    type === "application/octet-stream" ||
    SUPPORTED_FORMATS.some((f) => f.mediaType === type)
  ) {
    return decodeImage(
      await readBody(request, limit, timeout),
      "uploaded picture",
    );
  }
  if (type === "multipart/form-data") {
    const body = await readBody(request, limit, timeout);
    let form: FormData;
    try {
      form = await new Response(body, { headers: request.headers }).formData();
    } catch {
      throw new HttpError(400, "malformed multipart/form-data body");
    }
    const file = [...form.values()].find((v): v is File => v instanceof File);
    if (!file) {
      throw new HttpError(
        400,
        "the form holds no file: send the picture as a file field",
      );
    }
    return decodeImage(
      new Uint8Array(await file.arrayBuffer()),
      file.name || "uploaded picture",
    );
  }
  await request.body?.cancel();
  throw new HttpError(
    415,
    `unsupported content type '${type || "none"}': send ${
      PREDICT_CONTENT_TYPES.slice(0, -1).join(", ")
    } or ${PREDICT_CONTENT_TYPES.at(-1)}`,
  );
}

/**
 * JSON `{"width": W, "height": H, "pixels": [...]}` with RGBA bytes (as a
 * canvas's `getImageData` gives, `W·H·4` values) or grey bytes (`W·H`), 0–255.
 */
function canvasPixels(body: Uint8Array): RgbaImage {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(body));
  } catch (error) {
    throw new HttpError(400, `malformed JSON: ${(error as Error).message}`);
  }
  const { width, height, pixels } = (value ?? {}) as Record<string, unknown>;
  const side = (v: unknown) =>
    Number.isInteger(v) && (v as number) >= 1 &&
    (v as number) <= MAX_CANVAS_SIDE;
  if (!side(width) || !side(height)) {
    throw new HttpError(
      400,
      `width and height must be whole numbers from 1 to ${MAX_CANVAS_SIDE}`,
    );
  }
  const w = width as number, h = height as number;
  if (
    !Array.isArray(pixels) ||
    (pixels.length !== w * h * 4 && pixels.length !== w * h)
  ) {
    throw new HttpError(
      400,
      `pixels must hold ${w * h * 4} RGBA or ${
        w * h
      } grey values for a ${w}x${h} canvas, got ${
        Array.isArray(pixels) ? pixels.length : typeof pixels
      }`,
    );
  }
  const grey = pixels.length === w * h;
  const data = new Uint8Array(w * h * 4);
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i];
    if (typeof v !== "number" || !(v >= 0 && v <= 255)) {
      throw new HttpError(
        400,
        `pixels[${i}] is ${JSON.stringify(v)}, not a number from 0 to 255`,
      );
    }
    if (grey) {
      data.fill(v, 4 * i, 4 * i + 3);
      data[4 * i + 3] = 255;
    } else {
      data[i] = v;
    }
  }
  return { width: w, height: h, data };
}
