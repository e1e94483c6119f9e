/**
 * `deno task bench`: every speed and memory figure of the project from one
 * command, printed as a table and as JSON:
 *
 * - training throughput (samples/s, projected seconds per epoch) on one
 *   thread and on every core, and the scaling between them;
 * - two real `deno task train` runs as child processes, on every core and on
 *   one thread: their epoch time (and the scaling between the two), the time
 *   of everything else (start-up, load, build, evaluate, save, reload,
 *   predict), peak memory measured from outside (this process polls the
 *   resident set of the task and of every process below it), test accuracy
 *   and first ten predictions;
 * - prediction throughput on the 10,000 test images, on one thread and on
 *   every core (and the one-off start of the worker threads);
 * - time per kernel of a single-thread step, and the stock `cpu` backend as
 *   the pure-JS reference;
 * - the machine (CPU model, family, vector extensions, whether the kernels'
 *   relaxed-SIMD build ran) and the PyTorch anchor (`bench_torch.py`: the
 *   same model, batch and optimizer in PyTorch on the same threads, where
 *   /usr/bin/python3 has torch), so each figure is also a ratio to PyTorch
 *   measured in the same run.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  buildModel,
  type Dataset,
  initBackend,
  loadMnist,
  predictClasses,
} from "../../lib/mod.ts";
import { gatherBatch } from "../../lib/data.ts";
import { parallelRunner } from "../../lib/engine/parallel.ts";
import { defaultThreads, WorkerPool } from "../../lib/engine/pool.ts";
import {
  applyGradients,
  computeGradients,
  copyOut,
} from "../../lib/engine/gradients.ts";
import {
  flatSizes,
  readFlat,
  writeFlat,
} from "../../lib/engine/flat_weights.ts";
import type { KerasAdadelta } from "../../lib/engine/optimizer.ts";
import { flatRule, flatUpdate } from "../../lib/engine/flat_update.ts";
import { flatViews, makeFlatMemory } from "../../lib/engine/flat_memory.ts";
import { runWithPeak } from "./process_peak.ts";
import { describeMachine, machineInfo } from "./machine.ts";
import { gemmTuning } from "../../lib/kernels/tuning.ts";
import {
  DEFAULT_TILE,
  winogradForwardProfitable,
} from "../../lib/kernels/winograd.ts";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { measurePeak, type Peak } from "./fma_peak.ts";
import { canDirectConv } from "../../lib/kernels/direct_conv.ts";
import { parseFlags, runTask, usage } from "../flags.ts";
import { formatAnchors, onnxRuntimeAnchors } from "./onnx.ts";

/**
 * The flags of `deno task bench`, as `parseFlags` reads them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseFlags } from "../flags.ts";
 * import { SPEC } from "./main.ts";
 * assertEquals(parseFlags(["--help"], SPEC), "help");
 * ```
 */
export const SPEC = {
  batches: {
    type: "int",
    min: 1,
    default: 30,
    help: "timed training batches per run",
  },
  warmup: {
    type: "int",
    min: 0,
    default: 10,
    help: "untimed training batches before each run (JIT, heap growth)",
  },
  "batch-size": {
    type: "int",
    min: 1,
    default: 128,
    help: "samples per batch",
  },
  threads: {
    type: "int",
    min: 1,
    max: 256,
    help: "threads of the all-cores run (default: every core)",
  },
  "profile-steps": {
    type: "int",
    min: 1,
    default: 5,
    help: "single-thread steps profiled per kernel",
  },
  "no-train-run": {
    type: "boolean",
    help: "skip the two whole `deno task train` runs (about two minutes)",
  },
  limit: {
    type: "int",
    min: 1,
    max: 60000,
    help: "train the whole runs on the first N samples only (a quick look)",
  },
  "no-torch": {
    type: "boolean",
    help: "skip the PyTorch anchor",
  },
  "cpu-samples": {
    type: "int",
    min: 0,
    default: 32,
    help: "samples for the cpu-backend reference (0: skip)",
  },
} as const;
/**
 * What `deno task bench --help` prints.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { USAGE } from "./main.ts";
 * assert(USAGE.startsWith("Usage: deno task bench [flags]"));
 * ```
 */
export const USAGE = usage(
  "bench",
  "Measures training and inference speed on real MNIST.",
  SPEC,
);
const EPOCH = 60_000;

interface TrainFigure {
  backend: string;
  threads: number;
  samples: number;
  seconds: number;
  samplesPerSecond: number;
  projectedEpochSeconds: number;
}

async function timeTraining(
  mnist: Dataset,
  threads: number,
  batches: number,
  batchSize: number,
  warmup: number,
): Promise<TrainFigure> {
  const model = buildModel({ seed: 1 });
  const runner = await parallelRunner(model, mnist.train, { threads });
  try {
    const ids = (b: number) =>
      new Uint32Array(batchSize).map((_, i) =>
        (b * batchSize + i) % mnist.train.count
      );
    for (let b = 0; b < warmup; b++) {
      await runner.step(ids(b), { seed: 1, epoch: 0 });
    }
    const started = performance.now();
    for (let b = 0; b < batches; b++) {
      await runner.step(ids(b + warmup), { seed: 1, epoch: 0 });
    }
    const seconds = (performance.now() - started) / 1000;
    const samples = batches * batchSize;
    return figure("wasm", threads, samples, seconds);
  } finally {
    runner.dispose();
    model.dispose();
  }
}

function figureImages(threads: number, seconds: number) {
  return {
    threads,
    images: 10_000,
    seconds,
    imagesPerSecond: 10_000 / seconds,
  };
}

function figure(
  backend: string,
  threads: number,
  samples: number,
  seconds: number,
): TrainFigure {
  const sps = samples / seconds;
  return {
    backend,
    threads,
    samples,
    seconds,
    samplesPerSecond: sps,
    projectedEpochSeconds: EPOCH / sps,
  };
}

/** Figures of a whole `deno task train` run as a child process. */
interface TrainRun {
  command: string;
  threads: number;
  wallSeconds: number;
  epochSeconds: number;
  outsideEpochSeconds: number;
  /** Peak of the summed resident sets of `deno task` and its `deno run`. */
  peakTreeBytes: number;
  /** Peak resident set of the largest process (the `deno run`). */
  peakProcessBytes: number;
  /** CPU seconds the memory poller took from the run's cores. */
  pollerCpuSeconds: number;
  testAccuracy: number;
  firstTen: string;
}

const ROOT = new URL("../..", import.meta.url).pathname;

/**
 * Runs `deno task train` as a child (its own model directory) and measures
 * its wall time and its peak memory from outside; the task prints its epoch
 * time, test accuracy and first ten.
 */
async function timeTrainRun(
  seed: number,
  threads: number,
  limit: number | undefined,
): Promise<TrainRun> {
  const dir = "models/.bench_run";
  const args = [
    "--seed",
    String(seed),
    "--threads",
    String(threads),
    ...(limit ? ["--limit", String(limit)] : []),
  ];
  try {
    const run = await runWithPeak(Deno.execPath(), {
      args: ["task", "train", ...args, "--model-dir", dir],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
    });
    if (run.code !== 0) {
      throw new Error(
        `deno task train failed (exit ${run.code}):\n${run.stderr}`,
      );
    }
    const text = run.stdout;
    const epoch = /^Epoch time: ([\d.]+) s/m.exec(text);
    const acc = /^Test accuracy: ([\d.]+)/m.exec(text);
    const ten = /digits:\n(.*)$/m.exec(text);
    if (!epoch || !acc || !ten) {
      throw new Error(`unexpected train output:\n${text}`);
    }
    const epochSeconds = Number(epoch[1]);
    return {
      command: `deno task train ${args.join(" ")}`,
      threads,
      wallSeconds: run.wallSeconds,
      epochSeconds,
      outsideEpochSeconds: run.wallSeconds - epochSeconds,
      peakTreeBytes: run.treeBytes,
      peakProcessBytes: run.processBytes,
      pollerCpuSeconds: run.pollerCpuSeconds,
      testAccuracy: Number(acc[1]),
      firstTen: ten[1],
    };
  } finally {
    await Deno.remove(`${ROOT}${dir}`, { recursive: true }).catch(() => {});
  }
}

/** What `bench_torch.py` prints. */
interface TorchFigure {
  threads: number;
  samplesPerSecond: number;
  projectedEpochSeconds: number;
  /**
   * A whole shuffled epoch's seconds, its steps only (as `deno task train`
   * times its own); present where the bench asked for it.
   */
  epochSeconds?: number;
  imagesPerSecond: number;
  torch: string;
  /** ATen's CPU capability (its vectorised ops). */
  capability: string;
  /** oneDNN's version and the ISA it dispatches to here (convolutions). */
  onednn: string;
  onednnIsa: string;
  /** The BLAS behind the dense layers' products. */
  blas: string;
}

const PYTHON = "/usr/bin/python3";

/**
 * The PyTorch anchor on `threads` threads (`bench_torch.py`: the same model,
 * batch, optimizer and MNIST files), with a whole epoch when `epoch`, or
 * undefined where /usr/bin/python3 has no torch.
 */
async function torchAnchor(
  threads: number,
  batches: number,
  warmup: number,
  epoch: boolean,
): Promise<TorchFigure | undefined> {
  const script = new URL("./bench_torch.py", import.meta.url).pathname;
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(PYTHON, {
      args: [
        script,
        `${ROOT}data/mnist`,
        ...[threads, batches, warmup, epoch ? 1 : 0].map(String),
      ],
      // One OpenMP team of `threads`, whatever the caller's environment.
      env: { OMP_NUM_THREADS: String(threads) },
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch {
    return undefined;
  }
  const err = new TextDecoder().decode(out.stderr);
  if (!out.success) {
    if (/No module named .?torch/.test(err)) return undefined;
    throw new Error(`bench_torch.py failed (exit ${out.code}):\n${err}`);
  }
  return JSON.parse(new TextDecoder().decode(out.stdout).trim());
}

/**
 * Mean time per kernel of one single-thread training step, from `tf.profile`
 * over `steps` steps (after two warm-up steps), plus the data handling and
 * what the training runner does around them (the gradients copied out of
 * the heap, the flat Keras Adadelta update, the new weights loaded), timed.
 */
async function profileSteps(mnist: Dataset, batchSize: number, steps: number) {
  const model = buildModel({ seed: 1 });
  const keys = { seed: 1, epoch: 0 };
  const batch = (s: number) =>
    new Uint32Array(batchSize).map((_, i) =>
      (s * batchSize + i) % mnist.train.count
    );
  for (let s = 0; s < 2; s++) {
    const { grads } = computeGradients(model, mnist.train, batch(s), keys);
    applyGradients(model, grads);
    tf.dispose(grads);
  }
  // The runner's shared flat memory (one thread), for its SIMD update.
  const n = flatSizes(model).trainable;
  const flat = makeFlatMemory({
    total: n,
    trainable: n,
    threads: 1,
    states: 2,
  });
  const views = flatViews(flat);
  writeFlat(model, views.weights);
  const optimizer = model.optimizer as KerasAdadelta;
  const state = optimizer.exportState(
    model.trainableWeights.map((w) => w.read() as tf.Variable),
  );
  views.state[0].set(state.accumGrad);
  views.state[1].set(state.accumVar);
  const rule = flatRule(optimizer)!;
  const rows = new Map<
    string,
    { kernel: string; shape: string; calls: number; ms: number; flops: number }
  >();
  const add = (kernel: string, shape: string, ms: number, flops = 0) => {
    const key = `${kernel} ${shape}`;
    const row = rows.get(key) ?? { kernel, shape, calls: 0, ms: 0, flops };
    row.calls += 1 / steps;
    row.ms += ms / steps;
    rows.set(key, row);
  };
  for (let s = 0; s < steps; s++) {
    const ids = batch(s + 2);
    let t = performance.now();
    tf.dispose(Object.values(gatherBatch(mnist.train, ids)));
    add(
      "(data: gather + normalise + one-hot)",
      `[${batchSize},28,28,1]`,
      performance.now() - t,
    );
    let grads: tf.Tensor[] = [];
    const info = await tf.profile(() => {
      grads = computeGradients(model, mnist.train, ids, keys).grads;
      return grads;
    });
    for (const k of info.kernels) {
      // A custom gradient's node (tf.customGrad: the fused conv+pool op,
      // tfjs's fused matMul) is profiled under its scope's name, its time
      // the kernels' it ran, which are profiled themselves.
      if (tf.getKernel(k.name, tf.getBackend()) === undefined) continue;
      const shape = `${JSON.stringify(k.inputShapes)} → ${
        JSON.stringify(k.outputShapes)
      }`;
      add(
        k.name,
        shape,
        Number(k.kernelTimeMs),
        kernelFlops(k.name, k.inputShapes, k.outputShapes),
      );
    }
    // What the runner does with them: out of the heap, the flat Keras
    // Adadelta update, the new weights into the model.
    t = performance.now();
    copyOut(grads, views.grads[0]);
    tf.dispose(grads);
    add(
      "(gradients out of the heap)",
      "1,199,882 floats",
      performance.now() - t,
    );
    t = performance.now();
    flatUpdate(rule, views.weights, views.grads, [1], views.state, s, 0, n, {
      flat,
      thread: 0,
    });
    add(
      "(optimizer: Keras Adadelta, flat)",
      "1,199,882 params",
      performance.now() - t,
    );
    t = performance.now();
    readFlat(model, views.weights);
    add(
      "(new weights into the model)",
      "1,199,882 floats",
      performance.now() - t,
    );
  }
  model.dispose();
  return [...rows.values()]
    .map((r) => ({ ...r, calls: Math.round(r.calls) }))
    .sort((a, b) => b.ms - a.ms);
}

/**
 * conv1's output shape in the fused first layers' kernels, whose inputs
 * do not include it: from its input `x`, its filter and conv2's pooled
 * output, each 3×3 layer padded valid (2 rows and columns fewer) or same;
 * where the pooled side fits both, conv1 valid.
 */
function firstLayerShape(
  x: number[],
  filter1: number[],
  pooled: number[],
): number[] {
  const side = (input: number, out: number) =>
    [input - 2, input].find((s) =>
      ((s - 2) >> 1) === out || (s >> 1) === out
    ) ?? input - 2;
  return [x[0], side(x[1], pooled[1]), side(x[2], pooled[2]), filter1[3]];
}

/**
 * The FLOPs of one call of a profiled kernel as the mathematics counts them
 * (a multiply-add is two): a matrix product 2·m·k·n; a 2-D convolution, its
 * input gradient and its filter gradient 2·(output pixels of the forward
 * convolution)·kh·kw·Cin·Cout, whatever algorithm runs (Winograd F(4×4)
 * does about a quarter of these multiplications, so its GFLOP/s can exceed
 * the multiply-add peak); 0 where it is not a product.
 */
function kernelFlops(
  name: string,
  inputs: (number[] | null)[],
  outputs: (number[] | null)[],
): number {
  const size = (s: number[] | null | undefined) =>
    s ? s.reduce((a, b) => a * b, 1) : 0;
  const [a, b] = inputs;
  if (name === "BatchMatMul" || name === "_FusedMatMul") {
    const out = outputs[0];
    if (!a || !out) return 0;
    // k is the dimension the output lacks: a's size over the output's rows.
    const m = out[out.length - 2], n = out[out.length - 1];
    const k = size(a) / (m * (size(out) / (m * n)));
    return 2 * size(out) * k;
  }
  if (/^MnistCnnFirstConvsPool(Codes|Backprop)$/.test(name)) {
    // conv1 and conv2 with its pool. The forward pass: conv1's 2·|y|·kh·kw
    // (its output y, never stored) and conv2's from the pooled output (4
    // outputs each); the backward: conv2's two gradients from the pooled dy
    // and conv1's filter gradient (not conv1's output, computed again).
    const backward = name.endsWith("Backprop");
    const [x, f1] = inputs;
    const f2 = inputs[backward ? 5 : 3];
    const pooled = backward ? inputs[3] : outputs[0];
    if (!x || !f1 || !f2 || !pooled) return 0;
    const y = size(firstLayerShape(x, f1, pooled));
    const conv1 = 2 * y * f1[0] * f1[1] * f1[2];
    const conv2 = 8 * size(pooled) * f2[0] * f2[1] * f2[2];
    return backward ? 2 * conv2 + conv1 : conv1 + conv2;
  }
  if (name === "MnistCnnReluFilterGrad") {
    // conv1's filter gradient from dz (dy's shape, b): 2·|dy|·kh·kw·Cin.
    const f = outputs[0];
    return f && b ? 2 * size(b) * f[0] * f[1] * f[2] : 0;
  }
  if (/Conv2D/.test(name) && a && b) {
    if (name === "Conv2DBackpropFilter") {
      const f = outputs[0]; // [kh, kw, cin, cout]; b is dy
      return f ? 2 * size(b) * f[0] * f[1] * f[2] : 0;
    }
    if (name === "Conv2DBackpropInput") {
      return 2 * size(a) * b[0] * b[1] * b[2]; // a is dy, b the filter
    }
    if (name === "MnistCnnConv2DBackprop") {
      // Both gradients from dy (b): each 2·|dy|·kh·kw·Cin.
      const f = inputs[2]; // the filter
      return f ? 4 * size(b) * f[0] * f[1] * f[2] : 0;
    }
    if (name === "MnistCnnConv2DPoolBackprop") {
      // As above from the pooled dy (b), a quarter of the convolution's.
      const f = inputs[3]; // the filter
      return f ? 16 * size(b) * f[0] * f[1] * f[2] : 0;
    }
    if (name === "MnistCnnConv2DBiasReluPoolCodes") {
      // Outputs pooled and codes: the convolution's output is 4 pooled.
      return 8 * size(outputs[0]) * b[0] * b[1] * b[2];
    }
    // The convolution's own output: the largest (a fused pool's is smaller).
    const out = outputs.reduce((x, y) => size(y) > size(x) ? y : x, null);
    return out ? 2 * size(out) * b[0] * b[1] * b[2] : 0;
  }
  return 0;
}

/**
 * The FLOPs one image's prediction executes on this backend: 3×3
 * convolutions the kernels route to Winograd (`winogradForwardProfitable`:
 * (m+2)² products of Cin·Cout per m×m output tile, m from `DEFAULT_TILE`),
 * other convolutions (one input channel's included, `canDirectConv`)
 * directly, dense layers as products; pooling, bias and activations are not
 * counted.
 */
function predictionFlops(model: tf.LayersModel): number {
  let flops = 0;
  for (const layer of model.layers) {
    const out = layer.outputShape as number[];
    const config = layer.getConfig();
    if (layer.getClassName() === "Conv2D") {
      const [kh, kw] = config.kernelSize as number[];
      const cin = (layer.input as tf.SymbolicTensor).shape[3] as number;
      const [, oh, ow, cout] = out;
      // Winograd where the kernels route a forward pass (conv2d.ts's rule).
      const m = cin === 1 ? DEFAULT_TILE.firstLayer : DEFAULT_TILE.conv;
      flops += kh === 3 && kw === 3 && !canDirectConv([1, oh, ow, cin], [
          kh,
          kw,
          cin,
          cout,
        ]) &&
          winogradForwardProfitable([kh, kw, cin, cout])
        ? (m + 2) ** 2 * Math.ceil(oh / m) * Math.ceil(ow / m) * 2 * cin * cout
        : 2 * oh * ow * cout * kh * kw * cin;
    } else if (layer.getClassName() === "Dense") {
      const cin = (layer.input as tf.SymbolicTensor).shape[1] as number;
      flops += 2 * cin * (config.units as number);
    }
  }
  return flops;
}

async function main(): Promise<void> {
  const flags = parseFlags(Deno.args, SPEC);
  if (flags === "help") return console.log(USAGE);
  const batches = flags.batches!, batchSize = flags["batch-size"]!;
  const warmup = flags.warmup!;
  const threads = flags.threads ?? defaultThreads();
  await initBackend();
  const machine = await machineInfo();
  console.log(`Machine: ${describeMachine(machine)}`);
  const peak: Peak = measurePeak();
  console.log(
    `Runtime peak: ${peak.gflops.toFixed(1)} GFLOP/s per thread ` +
      `(${peak.op}, ${peak.chains} chains, operands from memory)`,
  );
  const tuning = gemmTuning(tf.backend() as BackendWasm);
  console.log(
    `Kernel variant: ${tuning.chosen.rows}×8 register blocks, B packed ` +
      `${tuning.chosen.kc} rows at a time (${tuning.source}${
        tuning.ms
          ? `: ${tuning.ms.map((ms) => ms.toFixed(2)).join(", ")} ms`
          : ""
      })`,
  );
  const mnist = await loadMnist();

  const training: TrainFigure[] = [
    await timeTraining(mnist, 1, batches, batchSize, warmup),
  ];
  if (threads > 1) {
    training.push(
      await timeTraining(mnist, threads, batches, batchSize, warmup),
    );
  }

  const model = buildModel({ seed: 1 });
  const all = { start: 0, count: mnist.test.count };
  // Each figure: the median of three passes over the test set.
  const median3 = async (pass: () => unknown): Promise<number> => {
    const seconds: number[] = [];
    for (let r = 0; r < 3; r++) {
      const started = performance.now();
      await pass();
      seconds.push((performance.now() - started) / 1000);
    }
    return seconds.sort((a, b) => a - b)[1];
  };
  await predictClasses(model, mnist.test, { count: 1000 }); // warm-up
  const inference = [
    figureImages(
      1,
      await median3(() => predictClasses(model, mnist.test, all)),
    ),
  ];
  let poolStartSeconds = 0;
  if (threads > 1) {
    const started = performance.now();
    const pool = await WorkerPool.create(model, { threads });
    poolStartSeconds = (performance.now() - started) / 1000;
    try {
      await pool.forward(mnist.test, { ...all, count: 1000, mode: "classes" });
      const seconds = await median3(() =>
        pool.forward(mnist.test, { ...all, mode: "classes" })
      );
      inference.push(figureImages(threads, seconds));
    } finally {
      pool.dispose();
    }
  }

  const kernels = await profileSteps(mnist, batchSize, flags["profile-steps"]!);

  const cpuSamples = flags["cpu-samples"]!;
  if (cpuSamples > 0) {
    await initBackend("cpu");
    const cpuModel = buildModel({ seed: 1 });
    const ids = new Uint32Array(cpuSamples).map((_, i) => i);
    const t = performance.now();
    const { grads } = computeGradients(cpuModel, mnist.train, ids, {
      seed: 1,
      epoch: 0,
    });
    applyGradients(cpuModel, grads);
    training.push(
      figure("cpu (pure JS)", 1, cpuSamples, (performance.now() - t) / 1000),
    );
    tf.dispose(grads);
    await initBackend("wasm");
  }

  // Whole runs (every core, then one thread: the real epochs' scaling), each
  // followed by the PyTorch anchor on its threads: the same batches, and a
  // whole epoch beside the whole run's, close in time (the machine's speed
  // drifts over minutes).
  const limit = flags.limit;
  const trainRuns: TrainRun[] = [];
  const torch: TorchFigure[] = [];
  for (const t of threads > 1 ? [threads, 1] : [1]) {
    if (!flags["no-train-run"]) trainRuns.push(await timeTrainRun(2, t, limit));
    if (flags["no-torch"]) continue;
    const whole = !flags["no-train-run"] && !limit;
    const f = await torchAnchor(t, batches, warmup, whole);
    if (f) torch.push(f);
  }
  const torchOn = (t: number) => torch.find((f) => f.threads === t);
  const scaling = training.length > 1 && training[1].backend === "wasm"
    ? training[1].samplesPerSecond / training[0].samplesPerSecond
    : undefined;
  const epochScaling = trainRuns.length === 2 && threads > 1
    ? trainRuns[1].epochSeconds / trainRuns[0].epochSeconds
    : undefined;

  const report = {
    batchSize,
    batches,
    cores: defaultThreads(),
    training,
    scaling,
    epochScaling,
    trainRuns,
    inference,
    poolStartSeconds,
    kernels: kernels.map((k) => ({
      ...k,
      ms: Number(k.ms.toFixed(2)),
      gflops: k.flops ? Number((k.flops / k.ms / 1e6).toFixed(1)) : undefined,
    })),
    machine,
    peak,
    tuning,
    predictionFlopsPerImage: predictionFlops(model),
    torch,
  };

  console.log(`\nMachine: ${describeMachine(machine)}`);
  if (torch.length) {
    const t = torch[0];
    console.log(
      `PyTorch anchor: torch ${t.torch}, the same model, batch and Adadelta ` +
        `(tasks/bench/bench_torch.py); ATen ${t.capability}, oneDNN ${t.onednn} ` +
        `on ${t.onednnIsa}, BLAS ${t.blas}`,
    );
    if (/\/blas\/libblas/.test(t.blas)) {
      console.log(
        "  warning: that BLAS is the netlib reference, which cripples " +
          "PyTorch's dense layers; for a fair anchor install OpenBLAS " +
          "(apt install libopenblas0-pthread)",
      );
    }
  } else {
    console.log("PyTorch anchor: not run (--no-torch, or no torch here)");
  }
  const vsTorch = (ours: number, theirs: number | undefined) =>
    theirs ? ` (${(ours / theirs).toFixed(2)}× PyTorch's)` : "";

  console.log(
    `\nTraining (batch ${batchSize}, ${batches} timed batches, real MNIST):`,
  );
  console.log("backend          threads  samples/s  projected s/epoch");
  for (
    const f of [
      ...training,
      ...torch.map((t) => ({ ...t, backend: "PyTorch" })),
    ]
  ) {
    const anchor = f.backend === "wasm"
      ? torchOn(f.threads)?.projectedEpochSeconds
      : undefined;
    console.log(
      `${f.backend.padEnd(16)} ${String(f.threads).padStart(7)}  ${
        f.samplesPerSecond.toFixed(1).padStart(9)
      }  ${f.projectedEpochSeconds.toFixed(1).padStart(17)}${
        vsTorch(f.projectedEpochSeconds, anchor)
      }`,
    );
  }
  if (scaling !== undefined) {
    console.log(
      `scaling, 1 → ${threads} threads: ${scaling.toFixed(2)}× (these batches)`,
    );
  }
  for (const run of trainRuns) {
    console.log(`\nWhole run: ${run.command}:`);
    const anchor = torchOn(run.threads)?.epochSeconds;
    console.log(
      `  epoch                      ${run.epochSeconds.toFixed(1)} s${
        anchor
          ? `${vsTorch(run.epochSeconds, anchor)}: PyTorch's whole epoch ${
            anchor.toFixed(1)
          } s`
          : ""
      }`,
    );
    console.log(
      `  everything else            ${
        run.outsideEpochSeconds.toFixed(1)
      } s (start, load, build, evaluate, save, reload, predict)`,
    );
    console.log(`  wall time                  ${run.wallSeconds.toFixed(1)} s`);
    console.log(
      `  peak memory, from outside  ${
        (run.peakTreeBytes / 2 ** 20).toFixed(0)
      } MiB (deno task and its deno run together; the deno run alone ${
        (run.peakProcessBytes / 2 ** 20).toFixed(0)
      } MiB)`,
    );
    console.log(
      `  measuring it (the poller)  ${
        run.pollerCpuSeconds.toFixed(1)
      } s of CPU`,
    );
    console.log(`  test accuracy              ${run.testAccuracy.toFixed(4)}`);
    console.log(`  first ten                  ${run.firstTen}`);
  }
  if (epochScaling !== undefined) {
    console.log(
      `scaling, 1 → ${threads} threads: ${
        epochScaling.toFixed(2)
      }× (whole epochs)`,
    );
  }
  console.log("\nPrediction, 10,000 test images (median of 3 passes):");
  for (const f of inference) {
    console.log(
      `  ${f.threads} thread(s): ${f.seconds.toFixed(2)} s = ${
        f.imagesPerSecond.toFixed(0)
      } images/s${
        vsTorch(f.imagesPerSecond, torchOn(f.threads)?.imagesPerSecond)
      }`,
    );
  }
  const perImage = predictionFlops(model);
  console.log(
    `  roofline at the runtime's peak: ${
      (perImage / 1e6).toFixed(2)
    } MFLOP per image (as executed), ${
      (peak.gflops * 1e9 / perImage).toFixed(0)
    } images/s per thread`,
  );
  for (const f of inference) {
    console.log(
      `  ${f.threads} thread(s): ${
        (100 * f.imagesPerSecond * perImage / (f.threads * peak.gflops * 1e9))
          .toFixed(0)
      }% of ${f.threads} × peak`,
    );
  }
  if (threads > 1) {
    console.log(
      `  (starting the ${threads - 1} worker thread(s) once: ${
        poolStartSeconds.toFixed(2)
      } s)`,
    );
  }
  // ONNX Runtime anchors (tasks/bench/onnx.ts, docs/onnx.md).
  const threadsRun = { threads: inference.map((f) => f.threads) };
  const onnxAnchors = await onnxRuntimeAnchors(model, threadsRun);
  formatAnchors(onnxAnchors, inference).forEach((l) => console.log(l));
  console.log(
    `\nTime per kernel, mean of ${
      flags["profile-steps"]
    } single-thread training steps (batch ${batchSize}):`,
  );
  const stepMs = kernels.reduce((s, k) => s + k.ms, 0);
  console.log(
    `      ms  step%  GFLOP/s  of peak  kernel (GFLOP/s as the mathematics ` +
      `counts them; Winograd does about a quarter of a convolution's)`,
  );
  for (const k of kernels.slice(0, 25)) {
    const gflops = k.flops ? k.flops / k.ms / 1e6 : 0;
    console.log(
      `${k.ms.toFixed(1).padStart(8)} ${
        (100 * k.ms / stepMs).toFixed(1).padStart(6)
      }  ${gflops ? gflops.toFixed(1).padStart(7) : "      –"}  ${
        gflops
          ? `${(100 * gflops / peak.gflops).toFixed(0).padStart(6)}%`
          : "      –"
      }  ${k.kernel} ×${k.calls}  ${k.shape}`,
    );
  }
  console.log(`${stepMs.toFixed(1).padStart(8)} ms total`);
  console.log(`\nJSON: ${JSON.stringify(report)}`);
}

if (import.meta.main) await runTask(main, USAGE);
