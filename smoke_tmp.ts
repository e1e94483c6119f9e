import { initBackend, buildModel, loadMnist } from "./lib/mod.ts";
import { explain, saliency, gradCam, occlusion, digitInputs, activations } from "./lib/inside/mod.ts";
await initBackend();
const m = buildModel({ seed: 1 });
const { train } = await loadMnist();
const xs = digitInputs(train, [0, 1, 2]);
let t = performance.now();
const e = explain(m, xs.slice(0, 1));
console.log("first explain", performance.now() - t);
for (let r = 0; r < 5; r++) { t = performance.now(); explain(m, xs.slice(0, 1)); console.log("explain", (performance.now() - t).toFixed(1)); }
const s = saliency(m, xs); const g = gradCam(m, xs);
let d = 0, dc = 0; for (let i = 0; i < 3; i++) { const e2 = explain(m, [xs[i]]); for (let p = 0; p < 784; p++) { d = Math.max(d, Math.abs(e2.saliency[0][p] - s.maps[i][p])); dc = Math.max(dc, Math.abs(e2.gradCam[0][p]-g.maps[i][p])); } }
console.log("explain vs separate", d, dc, e.classes, s.targets);
t = performance.now(); const o = occlusion(m, xs); console.log("occl", performance.now() - t, o.drops[0].length);
t = performance.now(); saliency(m, xs, { smoothGrad: true }); console.log("smooth", performance.now() - t);
console.log(activations(m, xs).map(a => a.shape.join("x")).join(" "));
