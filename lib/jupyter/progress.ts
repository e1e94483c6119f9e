/**
 * A Keras-style progress bar that redraws in place on a terminal, updates one
 * live output in a Jupyter notebook, and prints a few throttled lines when
 * its output is a log file or a pipe.
 *
 * @module
 */
import { displayLive, isJupyterKernel } from "./mod.ts";

/** Where progress lines go. */
export interface ProgressSink {
  /** Shows `line`; `final` marks the last line of a bar. */
  write(line: string, final: boolean): void;
  /** Minimum milliseconds between two non-final writes. */
  readonly intervalMs: number;
}

/** Redraws one line in place with a carriage return (an interactive terminal). */
export function terminalSink(
  out: { writeSync(p: Uint8Array): number } = Deno.stdout,
): ProgressSink {
  const encoder = new TextEncoder();
  return {
    intervalMs: 200,
    write(line, final) {
      out.writeSync(encoder.encode(`\r${line}\x1b[K${final ? "\n" : ""}`));
    },
  };
}

/** Prints whole lines, throttled, for logs and pipes. */
export function logSink(
  print: (line: string) => void = console.log,
  intervalMs = 15_000,
): ProgressSink {
  return { intervalMs, write: (line) => print(line) };
}

let displays = 0;

/**
 * Updates one live output in a Jupyter notebook through `Deno.jupyter.display`
 * with a `display_id`, so the notebook shows one line that changes, not
 * thousands.
 */
export function jupyterSink(): ProgressSink {
  const id = `mnist-cnn-progress-${Date.now()}-${displays++}`;
  let shown = false;
  return {
    intervalMs: 500,
    write(line) {
      void displayLive({ "text/plain": line }, { id, update: shown });
      shown = true;
    },
  };
}

/** Picks the sink for where this process runs: notebook, terminal or log. */
export function defaultSink(): ProgressSink {
  if (isJupyterKernel()) return jupyterSink();
  return Deno.stdout.isTerminal() ? terminalSink() : logSink();
}

/** Formats seconds as Keras does for an ETA: `2:35`, `1:02:03`, `45s`. */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  if (h > 0) {
    return `${h}:${String(m).padStart(2, "0")}:${String(r).padStart(2, "0")}`;
  }
  if (m > 0) return `${m}:${String(r).padStart(2, "0")}`;
  return `${r}s`;
}

/** Formats metric values as Keras: ` - loss: 0.2654 - acc: 0.9184`. */
export function formatValues(values: Record<string, number>): string {
  return Object.entries(values).map(([k, v]) => ` - ${k}: ${v.toFixed(4)}`)
    .join("");
}

/** Options of {@linkcode ProgressBar}. */
export interface ProgressBarOptions {
  /** Number of samples in the epoch. */
  total: number;
  /** Where lines go; {@linkcode defaultSink} when omitted. */
  sink?: ProgressSink;
  /** Bar width in characters (Keras: 30). */
  width?: number;
  /** Clock in milliseconds (for tests). */
  now?: () => number;
}

/**
 * Keras's `Progbar`: `60000/60000 [==============================] - 189s
 * 3ms/step - loss: 0.2654 - acc: 0.9184 - val_loss: 0.0592 - val_acc: 0.9812`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { logSink, ProgressBar } from "./progress.ts";
 * const lines: string[] = [];
 * const bar = new ProgressBar({ total: 256, sink: logSink((l) => lines.push(l), 0) });
 * bar.update(128, { loss: 0.5, acc: 0.8 });
 * bar.finish({ loss: 0.4, acc: 0.85 }, 2);
 * assertEquals(lines.at(-1)!.startsWith("256/256 [=============================="), true);
 * ```
 */
export class ProgressBar {
  #total: number;
  #sink: ProgressSink;
  #width: number;
  #now: () => number;
  #start: number;
  #last = -Infinity;
  #latest?: { seen: number; values: Record<string, number>; shown: boolean };

  /** Starts the clock of a bar over `options.total` samples. */
  constructor(options: ProgressBarOptions) {
    this.#total = options.total;
    this.#sink = options.sink ?? defaultSink();
    this.#width = options.width ?? 30;
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
  }

  #bar(seen: number): string {
    const digits = String(this.#total).length;
    const filled = Math.floor((this.#width * seen) / this.#total);
    const body = seen >= this.#total
      ? "=".repeat(this.#width)
      : "=".repeat(Math.max(0, filled - 1)) + ">" +
        ".".repeat(this.#width - Math.max(1, filled));
    return `${String(seen).padStart(digits)}/${this.#total} [${body}]`;
  }

  /** Reports `seen` samples done with running metric values; throttled. */
  update(seen: number, values: Record<string, number>): void {
    const now = this.#now();
    this.#latest = { seen, values, shown: false };
    if (now - this.#last < this.#sink.intervalMs) return;
    this.#write(now);
  }

  /**
   * Writes the last {@linkcode update} if throttling held it back: where a
   * stopped epoch ended, rather than where the bar last showed it.
   */
  flush(): void {
    if (this.#latest && !this.#latest.shown) this.#write(this.#now());
  }

  #write(now: number): void {
    const { seen, values } = this.#latest!;
    this.#latest!.shown = true;
    this.#last = now;
    const elapsed = (now - this.#start) / 1000;
    const eta = seen > 0 ? (elapsed * (this.#total - seen)) / seen : 0;
    this.#sink.write(
      `${this.#bar(seen)} - ETA: ${formatEta(eta)}${formatValues(values)}`,
      false,
    );
  }

  /**
   * Writes the final line of the epoch with its time and time per step:
   * `seconds` when given (the training steps' own time, which the epoch's
   * other reports use), else the time since the bar started.
   */
  finish(
    values: Record<string, number>,
    steps: number,
    seconds?: number,
  ): string {
    const elapsed = seconds ?? (this.#now() - this.#start) / 1000;
    const perStep = Math.round((elapsed * 1000) / Math.max(1, steps));
    const line = `${this.#bar(this.#total)} - ${
      Math.round(elapsed)
    }s ${perStep}ms/step${formatValues(values)}`;
    this.#sink.write(line, true);
    return line;
  }
}
