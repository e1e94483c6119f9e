/**
 * `Conv2DBackpropInput` for the wasm backend, run on its XNNPACK forward
 * `Conv2D` instead of the stock scalar loop.
 *
 * With stride 1 the input gradient is a plain correlation of `dy`, padded by
 * `filterSize - 1 - pad` on each side, with the filter flipped spatially and
 * its channel axes swapped (`[KH, KW, Co, Ci]`). A stride `s` splits `dx` into
 * `s_h·s_w` interleaved phases: the rows `ih ≡ ρ - padTop (mod s)` only meet
 * the filter taps `kh ≡ ρ (mod s)`, so each phase is a stride-1 correlation of
 * `dy` with that sub-filter, and the phases are scattered back into `dx`.
 * This does no work on inserted zeros, unlike upsampling `dy`. Negative
 * padding (large explicit pads, or unused trailing input rows) is applied by
 * cropping `dy`. A stride-1 3x3 filter with at least 16 channels each way
 * runs as the adjoint of Winograd's forward pass instead
 * (`winogradBackpropInput3x3`), on `dy`'s own tiles.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import {
  assertFloat32,
  conv2dStride1,
  copyRun,
  disposeAll,
  fitDy,
  heapF32,
  heapIndex,
  type KernelArgs,
  transpose,
} from "./wasm_util.ts";
import { simdAvailable } from "./simd/simd.ts";
import {
  canUseWinograd,
  winogradBackpropInput3x3,
  winogradProfitable,
} from "./winograd.ts";

/** Padding of each side of a 2-D correlation; negative values crop. */
interface Pads {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/** One stride phase of the input gradient. */
interface Phase {
  /** Row and column phases ρ. */
  rh: number;
  rw: number;
  /** Sub-filter taps along each axis. */
  th: number;
  tw: number;
  /** First and one-past-last phase index q, so `ih = q·s + ρ - pad`. */
  qh0: number;
  qh1: number;
  qw0: number;
  qw1: number;
}

/**
 * The `Conv2DBackpropInput` kernel function: `dx` for `x` of shape
 * `attrs.inputShape`, from `dy` and `filter`. Supports every stride, padding
 * (`valid`, `same`, a number, explicit), `dimRoundingMode`, NHWC and NCHW.
 */
export function conv2DBackpropInput(
  { inputs, backend, attrs }: KernelArgs,
): tf.TensorInfo {
  const { dy: given, filter } = inputs as {
    dy: tf.TensorInfo;
    filter: tf.TensorInfo;
  };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
    attrs as unknown as tf.Conv2DBackpropInputAttrs;
  assertFloat32("Conv2DBackpropInput", given, filter);
  const channelsLast = dataFormat !== "NCHW";
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    channelsLast ? "channelsLast" : "channelsFirst",
  );
  const dy = fitDy("Conv2DBackpropInput", backend, info, given, filter.shape);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci } = info;
  const nhwc = [n, h, w, ci];

  const phases = stridePhases(info);
  const covered = phases.filter((p) => p.th > 0 && p.tw > 0);
  const empty = n * h * w * ci === 0 || info.outHeight * info.outWidth === 0 ||
    info.outChannels === 0;

  let dyNhwc: tf.TensorInfo | undefined;
  let dxNhwc: tf.TensorInfo | undefined;
  try {
    if (!empty) {
      dyNhwc = channelsLast ? dy : transpose(backend, dy, [0, 2, 3, 1]);
    }
    if (
      !empty && covered.length === 1 && phases.length === 1 &&
      info.strideHeight === 1 && info.strideWidth === 1
    ) {
      // Stride 1: the single phase is dx itself; a 3x3 filter with enough
      // channels runs as Winograd's adjoint, on dy's own tiles.
      const { top, bottom, left, right } = info.padInfo;
      const pads = { top, bottom, left, right };
      dxNhwc = info.filterHeight === 3 && info.filterWidth === 3 &&
          winogradProfitable(filter.shape) && simdAvailable(backend) &&
          canUseWinograd(nhwc, filter.shape, 1, 1, pads)
        ? winogradBackpropInput3x3(backend, dyNhwc!, filter, nhwc, pads)
        : phaseGradient(backend, dyNhwc!, filter, info, covered[0]);
    }
    if (dxNhwc === undefined) {
      dxNhwc = backend.makeOutput(nhwc, "float32");
      if (empty || covered.length < phases.length) {
        backend.typedArrayFromHeap(dxNhwc).fill(0);
      }
      for (const phase of empty ? [] : covered) {
        const part = phaseGradient(backend, dyNhwc!, filter, info, phase);
        try {
          scatterPhase(backend, dxNhwc, part, info, phase);
        } finally {
          disposeAll(backend, part);
        }
      }
    }
    if (channelsLast) {
      const result = dxNhwc;
      dxNhwc = undefined;
      return result;
    }
    return transpose(backend, dxNhwc, [0, 3, 1, 2]);
  } finally {
    disposeAll(backend, dxNhwc);
    if (dyNhwc !== dy) disposeAll(backend, dyNhwc);
    if (dy !== given) disposeAll(backend, dy);
  }
}

/** Lists the `strideHeight·strideWidth` phases of `dx` and their geometry. */
function stridePhases(info: tf.backend_util.Conv2DInfo): Phase[] {
  const { strideHeight: sh, strideWidth: sw, padInfo } = info;
  const phases: Phase[] = [];
  for (let rh = 0; rh < sh; rh++) {
    for (let rw = 0; rw < sw; rw++) {
      const phase = {
        rh,
        rw,
        th: Math.max(0, Math.ceil((info.filterHeight - rh) / sh)),
        tw: Math.max(0, Math.ceil((info.filterWidth - rw) / sw)),
        qh0: Math.ceil((padInfo.top - rh) / sh),
        qh1: Math.ceil((info.inHeight + padInfo.top - rh) / sh),
        qw0: Math.ceil((padInfo.left - rw) / sw),
        qw1: Math.ceil((info.inWidth + padInfo.left - rw) / sw),
      };
      if (phase.qh1 > phase.qh0 && phase.qw1 > phase.qw0) phases.push(phase);
    }
  }
  return phases;
}

/**
 * `dx` restricted to one phase, `[N, qh1-qh0, qw1-qw0, Ci]`:
 * `Σ_(j,c) dy[n, q - j, ·, c] · filter[ρ + s·j, ·, ·, c]`, computed as a
 * stride-1 XNNPACK correlation of `dy` with the flipped, channel-swapped
 * sub-filter.
 */
function phaseGradient(
  backend: BackendWasm,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  phase: Phase,
): tf.TensorInfo {
  const sub = subFilter(backend, filter, info, phase);
  try {
    return correlate(backend, dy, sub, {
      top: phase.th - 1 - phase.qh0,
      bottom: phase.qh1 - info.outHeight,
      left: phase.tw - 1 - phase.qw0,
      right: phase.qw1 - info.outWidth,
    }, [
      info.batchSize,
      phase.qh1 - phase.qh0,
      phase.qw1 - phase.qw0,
      info.inChannels,
    ]);
  } finally {
    disposeAll(backend, sub);
  }
}

/**
 * The phase's taps of `filter` (`[KH, KW, Ci, Co]`), flipped and with the
 * channel axes swapped: `[th, tw, Co, Ci]`, entry `(a, b, o, i)` taken from
 * `filter[ρh + sh·(th-1-a), ρw + sw·(tw-1-b), i, o]`.
 */
function subFilter(
  backend: BackendWasm,
  filter: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  { rh, rw, th, tw }: Phase,
): tf.TensorInfo {
  const { filterWidth: fw, inChannels: ci, outChannels: co } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const sub = backend.makeOutput([th, tw, co, ci], "float32");
  const heap = heapF32(backend);
  const src = heapIndex(backend, filter);
  let dst = heapIndex(backend, sub);
  for (let a = 0; a < th; a++) {
    const kh = rh + sh * (th - 1 - a);
    for (let b = 0; b < tw; b++) {
      const kw = rw + sw * (tw - 1 - b);
      const tap = src + (kh * fw + kw) * ci * co;
      for (let o = 0; o < co; o++) {
        for (let i = 0; i < ci; i++) heap[dst++] = heap[tap + i * co + o];
      }
    }
  }
  return sub;
}

/**
 * Stride-1 correlation of `x` (NHWC) with `filter` on the XNNPACK `Conv2D`,
 * where negative pads crop `x`. `outShape` is the expected result shape; when
 * cropping leaves no input the result is zeros.
 */
function correlate(
  backend: BackendWasm,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  pads: Pads,
  outShape: number[],
): tf.TensorInfo {
  if (pads.top >= 0 && pads.bottom >= 0 && pads.left >= 0 && pads.right >= 0) {
    return conv2dStride1(backend, x, filter, pads);
  }
  const [n, h, w, c] = x.shape;
  const r0 = Math.max(0, -pads.top);
  const r1 = h - Math.max(0, -pads.bottom);
  const c0 = Math.max(0, -pads.left);
  const c1 = w - Math.max(0, -pads.right);
  if (r1 <= r0 || c1 <= c0) {
    const zeros = backend.makeOutput(outShape, "float32");
    backend.typedArrayFromHeap(zeros).fill(0);
    return zeros;
  }
  const cropped = backend.makeOutput([n, r1 - r0, c1 - c0, c], "float32");
  try {
    const heap = heapF32(backend);
    const src = heapIndex(backend, x);
    let dst = heapIndex(backend, cropped);
    const run = (c1 - c0) * c;
    for (let b = 0; b < n; b++) {
      for (let r = r0; r < r1; r++, dst += run) {
        copyRun(heap, dst, src + ((b * h + r) * w + c0) * c, run);
      }
    }
    return conv2dStride1(backend, cropped, filter, {
      top: Math.max(0, pads.top),
      bottom: Math.max(0, pads.bottom),
      left: Math.max(0, pads.left),
      right: Math.max(0, pads.right),
    });
  } finally {
    disposeAll(backend, cropped);
  }
}

/** Copies a phase's gradient into its interleaved positions of `dx`. */
function scatterPhase(
  backend: BackendWasm,
  dx: tf.TensorInfo,
  part: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  { rh, rw, qh0, qh1, qw0, qw1 }: Phase,
): void {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci } = info;
  const { strideHeight: sh, strideWidth: sw, padInfo } = info;
  const heap = heapF32(backend);
  const base = heapIndex(backend, dx);
  let src = heapIndex(backend, part);
  for (let b = 0; b < n; b++) {
    for (let q = qh0; q < qh1; q++) {
      const ih = q * sh + rh - padInfo.top;
      for (let p = qw0; p < qw1; p++, src += ci) {
        const iw = p * sw + rw - padInfo.left;
        copyRun(heap, base + ((b * h + ih) * w + iw) * ci, src, ci);
      }
    }
  }
}
