/**
 * Tests of the command-line tasks (`deno task train|predict|bench|…`).
 * Flags are checked in-process against each task's exported flag spec
 * (`SPEC`) and error report (`taskFailure`), fast; a few subprocess smoke
 * tests run the real tasks with the permissions deno.json gives them: a bad
 * flag and a bad data set as a user meets them, `--help`, a missing model,
 * Ctrl-C during training, and `--resume`.
 *
 * Run: deno test --allow-read --allow-write --allow-env --allow-run tests/cli_test.ts
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { DatasetError, UsageError } from "../lib/errors.ts";
import {
  backendName,
  type FlagSpec,
  parseFlags,
  taskFailure,
} from "../tasks/flags.ts";
import * as train from "../tasks/train.ts";
import * as predict from "../tasks/predict.ts";
import * as bench from "../tasks/bench/main.ts";
import * as serve from "../tasks/serve.ts";
import * as report from "../tasks/report.ts";
import * as notebooks from "../tasks/notebooks.ts";
import * as benchServe from "../tasks/bench/serve.ts";
import * as benchInside from "../tasks/bench/inside.ts";
import * as benchAugment from "../tasks/bench/augment.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Every model directory of this file starts with this, under models/. */
const PREFIX = `cli-test-${Deno.pid}`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Runs `deno task <args>` in the repository root and collects its output. */
async function task(...args: string[]): Promise<Run> {
  const started = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
    seconds: (performance.now() - started) / 1000,
  };
}

/** The lines a task printed on stderr, without `deno task`'s "Task …" echo. */
function ownLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.trim() && !l.startsWith("Task "));
}

function describe(run: Run): string {
  return `exit ${run.code} after ${
    run.seconds.toFixed(1)
  } s\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

async function withModelDir(
  name: string,
  fn: (rel: string, abs: string) => Promise<void>,
): Promise<void> {
  const rel = `models/${PREFIX}-${name}`, abs = join(ROOT, rel);
  try {
    await fn(rel, abs);
  } finally {
    for (const suffix of ["", ".previous", `.saving-${Deno.pid}`]) {
      await Deno.remove(abs + suffix, { recursive: true }).catch(() => {});
    }
  }
}

/** [task, args, texts the error must include (flag and problem)]. */
const BAD_FLAGS: [string, string[], string[]][] = [
  // train
  ["train", ["--bogus"], ["unknown flag --bogus"]],
  ["train", ["--epoch", "2"], ["unknown flag --epoch; did you mean --epochs?"]],
  ["train", ["--batchsize=64"], [
    "unknown flag --batchsize; did you mean --batch-size?",
  ]],
  ["train", ["-e", "2"], ["unknown flag -e"]],
  ["train", ["--epochs"], ["--epochs", "argument missing"]],
  ["train", ["--epochs", "abc"], [
    "--epochs must be a whole number, got 'abc'",
  ]],
  ["train", ["--epochs", "1.5"], ["--epochs must be a whole number"]],
  ["train", ["--epochs", "0"], ["--epochs must be at least 1, got 0"]],
  ["train", ["--epochs=-1"], ["--epochs must be at least 1, got -1"]],
  // A negative number after its flag is its value, not another flag.
  ["train", ["--epochs", "-1"], ["--epochs must be at least 1, got -1"]],
  ["train", ["--limit", "-5"], ["--limit must be from 1 to 60000, got -5"]],
  ["train", ["--zoom", "-.5"], [
    "--zoom must be a number from 0 to 0.9, got '-.5'",
  ]],
  ["train", ["--batch-size", "0"], ["--batch-size must be at least 1, got 0"]],
  ["train", ["--batch-size=-32"], ["--batch-size must be at least 1, got -32"]],
  ["train", ["--batch-size", "x1"], ["--batch-size must be a whole number"]],
  ["train", ["--limit", "60001"], [
    "--limit must be from 1 to 60000, got 60001",
  ]],
  ["train", ["--limit", "0"], ["--limit must be from 1 to 60000, got 0"]],
  ["train", ["--seed=-1"], ["--seed must be from 0 to 2147483647, got -1"]],
  ["train", ["--threads", "0"], ["--threads must be from 1 to 256, got 0"]],
  ["train", ["--zoom", "1"], [
    "--zoom must be a number from 0 to 0.9, got '1'",
  ]],
  ["train", ["--rotation", "ten"], [
    "--rotation must be a number from 0 to 180, got 'ten'",
  ]],
  ["train", ["--translation=-0.1"], [
    "--translation must be a number from 0 to 0.9, got '-0.1'",
  ]],
  ["train", ["--model-dir"], ["--model-dir", "argument missing"]],
  ["train", ["--model-dir="], ["--model-dir needs a value"]],
  ["train", ["stray"], ["Unexpected argument 'stray'"]],
  ["train", ["--epochs", "2", "extra"], ["Unexpected argument 'extra'"]],
  // predict
  ["predict", ["--bogus"], ["unknown flag --bogus"]],
  ["predict", ["--epochs", "1"], ["unknown flag --epochs"]],
  ["predict", ["--image"], ["--image", "argument missing"]],
  ["predict", ["--imgae", "a.png"], [
    "unknown flag --imgae; did you mean --image?",
  ]],
  ["predict", ["--count"], ["--count", "argument missing"]],
  ["predict", ["--count", "abc"], [
    "--count must be a whole number, got 'abc'",
  ]],
  ["predict", ["--count", "0"], ["--count must be from 1 to 60000, got 0"]],
  ["predict", ["--count=-5"], ["--count must be from 1 to 60000, got -5"]],
  ["predict", ["--count", "-5"], ["--count must be from 1 to 60000, got -5"]],
  ["predict", ["--count", "60001"], [
    "--count must be from 1 to 60000, got 60001",
  ]],
  ["predict", ["--start=-1"], ["--start must be from 0 to 59999, got -1"]],
  ["predict", ["--start", "60000"], [
    "--start must be from 0 to 59999, got 60000",
  ]],
  ["predict", ["stray"], ["Unexpected argument 'stray'"]],
  // bench
  ["bench", ["--bogus"], ["unknown flag --bogus"]],
  ["bench", ["--epochs", "1"], ["unknown flag --epochs"]],
  ["bench", ["--batches"], ["--batches", "argument missing"]],
  ["bench", ["--batches", "abc"], ["--batches must be a whole number"]],
  ["bench", ["--batches", "0"], ["--batches must be at least 1, got 0"]],
  ["bench", ["--batches=-2"], ["--batches must be at least 1, got -2"]],
  ["bench", ["--batch-size", "0"], ["--batch-size must be at least 1, got 0"]],
  ["bench", ["--batch-size=-1"], ["--batch-size must be at least 1, got -1"]],
  ["bench", ["--threads", "257"], ["--threads must be from 1 to 256, got 257"]],
  ["bench", ["--cpu-samples=-1"], ["--cpu-samples must be at least 0"]],
  ["bench", ["stray"], ["Unexpected argument 'stray'"]],
];

const TASKS: Record<string, { SPEC: Record<string, FlagSpec>; USAGE: string }> =
  {
    train,
    predict,
    bench,
    serve,
    report,
    notebooks,
    "bench-serve": benchServe,
    "bench-inside": benchInside,
    "bench-augment": benchAugment,
  };

Deno.test("bad flags: a usage error naming the flag and the problem, then where help is, in two lines", () => {
  for (const [name, args, wants] of BAD_FLAGS) {
    const { SPEC, USAGE } = TASKS[name];
    const what = `deno task ${name} ${args.join(" ")}`;
    const error = assertThrows(
      () => parseFlags(args, SPEC),
      UsageError,
      "",
      what,
    );
    for (const want of wants) assertStringIncludes(error.message, want, what);
    // As runTask prints it: exit code 2, the error and a one-line hint, not
    // the whole usage text burying the error.
    assertEquals(taskFailure(error, USAGE), {
      code: 2,
      message: `error: ${error.message}\n` +
        `Run 'deno task ${name} --help' for the flags.`,
    }, what);
  }
});

Deno.test("did you mean: only a close flag is offered", () => {
  const cases: [string[], string | undefined][] = [
    [["--epoch"], "--epochs"],
    [["--seeds", "1"], "--seed"],
    [["--model_dir", "x"], "--model-dir"],
    [["--back", "cpu"], "--backend"],
    [["--bogus"], undefined],
    [["--x"], undefined],
  ];
  for (const [args, near] of cases) {
    const error = assertThrows(() => parseFlags(args, train.SPEC), UsageError);
    if (near) assertStringIncludes(error.message, `did you mean ${near}?`);
    else assert(!error.message.includes("did you mean"), error.message);
  }
});

Deno.test("good flags: values, negative numbers where allowed, --help", () => {
  assertEquals(
    parseFlags(["--limit", "4096", "--zoom", ".1", "--augment"], train.SPEC),
    {
      ...parseFlags([], train.SPEC) as object,
      limit: 4096,
      zoom: 0.1,
      augment: true,
    },
  );
  // A value that merely starts with a dash and is no number stays an error.
  assertThrows(
    () => parseFlags(["--model-dir", "-x"], train.SPEC),
    UsageError,
    "unknown flag -x",
  );
  for (const [name, { SPEC, USAGE }] of Object.entries(TASKS)) {
    assertEquals(parseFlags(["--help"], SPEC), "help", name);
    assert(USAGE.startsWith(`Usage: deno task ${name} [flags]`), name);
    for (const flag of Object.keys(SPEC)) {
      assertStringIncludes(USAGE, `--${flag}`, name);
    }
  }
  assertEquals(backendName("webgpu"), "webgpu");
  assertThrows(
    () => backendName("gpu"),
    UsageError,
    "--backend must be one of wasm, webgpu, cpu, got 'gpu'",
  );
});

Deno.test("other errors: exit code 1 and one line; a bug keeps its stack trace", () => {
  assertEquals(
    taskFailure(
      new DatasetError("nosuch", "not-a-folder", "no such folder"),
      train.USAGE,
    ),
    { code: 1, message: "error: nosuch: no such folder" },
  );
  assertEquals(
    taskFailure(new TypeError("x is undefined"), train.USAGE),
    undefined,
  );
});

Deno.test("smoke: a mistyped flag as a user meets it: exit 2, the error and the hint, nothing else", async () => {
  const run = await task("train", "--epoch", "2");
  const what = describe(run);
  assertEquals(run.code, 2, what);
  assertEquals(ownLines(run.stderr), [
    "error: unknown flag --epoch; did you mean --epochs?",
    "Run 'deno task train --help' for the flags.",
  ], what);
  assertEquals(run.stdout, "", what);
});

Deno.test("smoke: --dataset naming neither a data set nor a folder names the data sets", async () => {
  const run = await task(
    "train",
    "--dataset",
    "fashion",
    "--model-dir",
    `models/${PREFIX}-never`,
  );
  const what = describe(run);
  assertEquals(run.code, 1, what);
  const lines = ownLines(run.stderr);
  assertEquals(lines.length, 1, what);
  assertStringIncludes(lines[0], "error: fashion: no such folder", what);
  assertStringIncludes(lines[0], "mnist, fashion_mnist", what);
  assertStringIncludes(lines[0], "did you mean fashion_mnist?", what);
  assert(!run.stdout.includes("Epoch"), what);
});

// predict's --start and --count are each in range here, but together they
// run past the 60000 training samples: a usage error, due before the model
// (absent here) or the data are touched.
Deno.test("predict: --start + --count past the data is a usage error before any work", async () => {
  const run = await task(
    "predict",
    "--model-dir",
    `models/${PREFIX}-absent`,
    "--start",
    "59995",
    "--count",
    "10",
  );
  assertEquals(run.code, 2, describe(run));
  assertStringIncludes(run.stderr, "--count", describe(run));
  assertStringIncludes(
    run.stderr,
    "Run 'deno task predict --help' for the flags.",
    describe(run),
  );
});

Deno.test("smoke: --help: exit code 0 and the usage on stdout", async () => {
  // Every task's flags and usage text are checked in-process above; these
  // two run for real (convert parses its own arguments).
  for (const name of ["train", "convert"]) {
    const run = await task(name, "--help");
    assertEquals(run.code, 0, describe(run));
    assertStringIncludes(
      run.stdout,
      name === "convert"
        ? "Usage: deno task convert IN OUT"
        : `Usage: deno task ${name} [flags]`,
    );
    assertStringIncludes(run.stdout, "--help");
    assert(!run.stdout.includes("Epoch"), describe(run));
    assertEquals(ownLines(run.stderr), [], describe(run));
  }
});

Deno.test("predict without a saved model: one clear line saying to train first", async () => {
  const rel = `models/${PREFIX}-nonexistent-${crypto.randomUUID()}`;
  const run = await task("predict", "--model-dir", rel);
  assertNotEquals(run.code, 0, describe(run));
  const lines = ownLines(run.stderr);
  assertEquals(lines.length, 1, describe(run));
  assertMatch(lines[0], /^error: /);
  assertStringIncludes(lines[0], rel);
  assertStringIncludes(lines[0], "no saved model here");
  assertStringIncludes(lines[0], "deno task train");
  assert(!/^\s+at /m.test(run.stderr), `stack trace: ${describe(run)}`);
});

/** Drains a stream into `text`, and resolves `seen` once `pattern` shows. */
function watch(stream: ReadableStream<Uint8Array>, pattern: RegExp) {
  const state = { text: "" };
  let found!: () => void;
  const seen = new Promise<void>((resolve) => found = resolve);
  const done = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      state.text += decoder.decode(chunk, { stream: true });
      if (pattern.test(state.text)) found();
    }
    found(); // EOF: let the waiter look at what came
  })();
  return { state, seen, done };
}

Deno.test("Ctrl-C during training: exit code 130, the previous model untouched", async () => {
  await withModelDir("sigint", async (rel, abs) => {
    const first = await task(
      "train",
      "--limit",
      "256",
      "--seed",
      "1",
      "--threads",
      "1",
      "--model-dir",
      rel,
    );
    assertEquals(first.code, 0, describe(first));
    // What --limit trains on, said once and the same way twice; the epoch's
    // line and its time agree (validation not counted in either).
    assertStringIncludes(first.stdout, "x_train shape: (256, 28, 28, 1)\n");
    assertStringIncludes(first.stdout, "\n256 train samples\n");
    const bar = /256\/256 \[=+\] - (\d+)s (\d+)ms\/step/.exec(first.stdout);
    const epoch = /^Epoch time: ([\d.]+) s$/m.exec(first.stdout);
    if (!bar || !epoch) throw new Error(`no epoch line: ${describe(first)}`);
    const seconds = Number(epoch[1]);
    // Whole seconds on the bar, tenths on the epoch line: both round the
    // same time (0.47 s shows as 0s and 0.5 s).
    assert(Math.abs(Number(bar[1]) - seconds) <= 0.55, describe(first));
    // Two steps of 128; the epoch time is rounded to 0.1 s.
    assert(
      Math.abs(2 * Number(bar[2]) - 1000 * seconds) <= 52,
      describe(first),
    );
    const weights = await Deno.readFile(join(abs, "weights.bin"));
    const modelJson = await Deno.readTextFile(join(abs, "model.json"));

    // `deno task` runs the script as a child process; it forwards SIGINT to
    // it (checked with Deno 2.9.6: the child prints its interrupt message and
    // the task exits 130), so the task itself is the process signalled here.
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "task",
        "train",
        "--limit",
        "60000",
        "--seed",
        "2",
        "--threads",
        "1",
        "--model-dir",
        rel,
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const out = watch(child.stdout, /Epoch 1\/1/);
    const err = watch(child.stderr, /(?!)/);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), 120_000);
    });
    const early = await Promise.race([out.seen.then(() => false), timedOut]);
    clearTimeout(timer);
    if (early || !out.state.text.includes("Epoch 1/1")) {
      child.kill("SIGKILL");
      await Promise.all([child.status, out.done, err.done]);
      throw new Error(`training never started:\n${out.state.text}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 3000));
    child.kill("SIGINT");
    const status = await child.status;
    await Promise.all([out.done, err.done]);
    const what =
      `exit ${status.code}\n--- stdout\n${out.state.text}\n--- stderr\n${err.state.text}`;
    assertEquals(status.code, 130, what);
    assertMatch(err.state.text, /interrupted/i, what);
    assertMatch(err.state.text, /previous model .*unchanged/, what);
    assert(!/^\s+at /m.test(err.state.text), `stack trace: ${what}`);
    assertEquals(await Deno.readFile(join(abs, "weights.bin")), weights);
    assertEquals(await Deno.readTextFile(join(abs, "model.json")), modelJson);
    const leftovers = [];
    for await (const entry of Deno.readDir(join(ROOT, "models"))) {
      if (entry.name.startsWith(PREFIX) && entry.name.includes(".saving-")) {
        leftovers.push(entry.name);
      }
    }
    assertEquals(leftovers, [], "no staging directory left in models/");
  });
});

Deno.test("--resume: continues a checkpoint; refuses another seed or a finished run", async () => {
  await withModelDir("resume", async (rel, abs) => {
    const first = await task(
      "train",
      "--limit",
      "256",
      "--epochs",
      "1",
      "--seed",
      "3",
      "--threads",
      "1",
      "--rotation",
      "5",
      "--zoom",
      ".05",
      "--model-dir",
      rel,
    );
    assertEquals(first.code, 0, describe(first));
    // The layers asked for, each with its factor; no shift without --augment.
    const factors = { rotation: 5 / 360, translation: 0, zoom: 0.05 };
    const saved = JSON.parse(await Deno.readTextFile(join(abs, "model.json")));
    assertEquals(saved.userDefinedMetadata.run.augment, factors);

    const otherSeed = await task(
      "train",
      "--resume",
      "--epochs",
      "2",
      "--seed",
      "4",
      "--model-dir",
      rel,
    );
    assertEquals(otherSeed.code, 2, describe(otherSeed));
    assertStringIncludes(otherSeed.stderr, "--resume", describe(otherSeed));
    assertStringIncludes(otherSeed.stderr, "--seed 3", describe(otherSeed));
    assert(!otherSeed.stdout.includes("Epoch"), describe(otherSeed));

    const resumed = await task(
      "train",
      "--resume",
      "--epochs",
      "2",
      "--threads",
      "1",
      "--model-dir",
      rel,
    );
    assertEquals(resumed.code, 0, describe(resumed));
    assertStringIncludes(resumed.stdout, "Resuming", describe(resumed));
    assertStringIncludes(resumed.stdout, "after epoch 1 of 2 (seed 3)");
    assertStringIncludes(resumed.stdout, "Epoch 2/2");
    assert(!resumed.stdout.includes("Epoch 1/2"), describe(resumed));
    const json = JSON.parse(await Deno.readTextFile(join(abs, "model.json")));
    assertEquals(json.userDefinedMetadata.run.epochsDone, 2);
    assertEquals(json.userDefinedMetadata.run.seed, 3);
    assertEquals(
      json.userDefinedMetadata.run.augment,
      factors,
      "kept on --resume",
    );
    // The history next to the model spans both runs: two epochs, two steps each.
    const history = (await Deno.readTextFile(join(abs, "history.csv")))
      .split("\r\n").filter((l) => l);
    assertEquals(history[0], "epoch,acc,loss,val_acc,val_loss");
    assertEquals(history.slice(1).map((l) => l.split(",")[0]), ["0", "1"]);
    const steps = (await Deno.readTextFile(join(abs, "steps.csv")))
      .split("\r\n").filter((l) => l);
    assertEquals(steps[0], "epoch,step,samples,loss,acc,samples_per_epoch");
    assertEquals(
      steps.slice(1).map((l) => l.split(",").slice(0, 3).join(",")),
      [
        "0,1,128",
        "0,2,256",
        "1,1,128",
        "1,2,256",
      ],
    );

    const finished = await task(
      "train",
      "--resume",
      "--epochs",
      "2",
      "--model-dir",
      rel,
    );
    assertEquals(finished.code, 2, describe(finished));
    assertStringIncludes(finished.stderr, "already finished 2 epoch(s)");
    assertStringIncludes(finished.stderr, "deno task train --help");
    assert(!finished.stderr.includes("Usage:"), describe(finished));
    assert(!finished.stdout.includes("Epoch"), describe(finished));
  });
});

Deno.test("train: --rotation, --translation, --zoom set one layer each; with --augment the others keep the usual factors", async () => {
  await withModelDir("augment", async (rel, abs) => {
    const run = await task(
      "train",
      ...["--limit", "128", "--seed", "1", "--threads", "1"],
      ...["--augment", "--rotation", "5", "--model-dir", rel],
    );
    assertEquals(run.code, 0, describe(run));
    const json = JSON.parse(await Deno.readTextFile(join(abs, "model.json")));
    assertEquals(json.userDefinedMetadata.run.augment, {
      rotation: 5 / 360,
      translation: 0.1,
      zoom: 0.1,
    });
  });
});
