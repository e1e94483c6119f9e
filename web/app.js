// The drawing page: pointer events draw on #pad; while drawing (throttled)
// and when a stroke ends, the canvas goes to POST /api/explain as a PNG, and
// #prediction and the bars show the answer, #inside what the model sees: the
// 28×28 input, Grad-CAM and saliency over it, conv1's feature maps. A file
// input uploads a picture, shown on the pad.
const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const prediction = document.getElementById("prediction");
const statusLine = document.getElementById("status");
const bars = document.getElementById("bars");
const THROTTLE_MS = 150;
const inside = document.getElementById("inside");
const ramp = document.querySelector("#inside .ramp");
// The colour of t (0..1) on the answer's palette (lib/inside/show.ts's scale).
function colour(palette, t) {
  const v = Math.min(Math.max(t, 0), 1) * (palette.length - 1);
  const i = Math.min(Math.floor(v), palette.length - 2);
  const f = v - i;
  return palette[i].map((a, c) => a + f * (palette[i + 1][c] - a));
}

// Draws `values` (0–255, row by row) on a canvas of its size: grey (no
// palette), coloured on `palette`, or coloured over the input (`under`), which
// shows through where it is low.
function paint(canvas, values, width, height, palette, under) {
  canvas.width = width;
  canvas.height = height;
  const c = canvas.getContext("2d");
  const image = c.createImageData(width, height);
  for (let p = 0; p < width * height; p++) {
    const t = values[p] / 255;
    let rgb;
    if (!palette) rgb = [values[p], values[p], values[p]];
    else if (!under) rgb = colour(palette, t);
    else {
      const a = 0.15 + 0.85 * t;
      const g = 40 + (120 * under[p]) / 255;
      rgb = colour(palette, t).map((v) => (1 - a) * g + a * v);
    }
    image.data.set([rgb[0], rgb[1], rgb[2], 255], 4 * p);
  }
  c.putImageData(image, 0, 0);
}

function showInside(answer) {
  if (!answer) {
    inside.hidden = true;
    return;
  }
  inside.hidden = false;
  const { palette } = answer;
  ramp.style.background = `linear-gradient(to right, ${
    palette.map(([r, g, b]) => `rgb(${r} ${g} ${b})`).join(", ")
  })`;
  paint(document.getElementById("input28"), answer.input, 28, 28, null);
  paint(
    document.getElementById("gradcam"),
    answer.gradCam,
    28,
    28,
    palette,
    answer.input,
  );
  paint(
    document.getElementById("saliency"),
    answer.saliency,
    28,
    28,
    palette,
    answer.input,
  );
  document.getElementById("cam-layer").textContent = answer.layerLabel;
  document.getElementById("cam-class").textContent = String(answer.classes[0]);
  const { label, height, width, maps } = answer.featureMaps;
  document.getElementById("maps-title").textContent =
    `${label}'s ${maps.length} feature maps (each on its own scale)`;
  const box = document.getElementById("maps");
  while (box.children.length < maps.length) {
    box.append(document.createElement("canvas"));
  }
  while (box.children.length > maps.length) box.lastChild.remove();
  maps.forEach((map, k) => paint(box.children[k], map, width, height, palette));
}

function clearPad() {
  generation++; // answers to earlier drawings are dropped
  again = false;
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, pad.width, pad.height);
  prediction.textContent = "–";
  statusLine.textContent = "Draw a digit to begin.";
  showBars(null);
  showInside(null);
  inked = false;
  pad.dataset.source = "drawing";
}

function showBars(probabilities) {
  bars.replaceChildren();
  if (!probabilities) return;
  const best = probabilities.indexOf(Math.max(...probabilities));
  probabilities.forEach((p, digit) => {
    const li = document.createElement("li");
    if (digit === best) li.className = "best";
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.max(1, Math.round(p * 100))}%`;
    li.append(String(digit), bar, p.toFixed(2));
    bars.append(li);
  });
}

let generation = 0; // which drawing the page shows
let pending = null; // the request in flight
let again = false; // another prediction wanted when it answers
let lastSent = 0;
let inked = false;

async function send(body, type) {
  const sentFor = generation;
  const response = await fetch("/api/explain", {
    method: "POST",
    headers: { "content-type": type },
    body,
  });
  const answer = await response.json();
  if (sentFor !== generation) return;
  if (!response.ok) {
    prediction.textContent = "?";
    statusLine.textContent = answer.error ?? `error ${response.status}`;
    showBars(null);
    showInside(null);
    return;
  }
  prediction.textContent = String(answer.classes[0]);
  statusLine.textContent = `p = ${
    answer.probabilities[0][answer.classes[0]].toFixed(2)
  }`;
  showBars(answer.probabilities[0]);
  showInside(answer);
}

function predictPad() {
  if (!inked) return;
  if (pending) {
    again = true;
    return;
  }
  lastSent = performance.now();
  pad.dataset.state = "busy";
  pending = new Promise((resolve) => pad.toBlob(resolve, "image/png"))
    .then((blob) => send(blob, "image/png"))
    .catch((error) => (statusLine.textContent = String(error)))
    .finally(() => {
      pending = null;
      if (again) {
        again = false;
        predictPad();
      } else if (!drawing) {
        pad.dataset.state = "idle"; // the answer shown is for the whole drawing
      }
    });
}

let drawing = false;
let last = null;

function point(event) {
  const rect = pad.getBoundingClientRect();
  return [
    ((event.clientX - rect.left) * pad.width) / rect.width,
    ((event.clientY - rect.top) * pad.height) / rect.height,
  ];
}

pad.addEventListener("pointerdown", (event) => {
  if (pad.dataset.source === "upload") clearPad(); // a new drawing
  drawing = true;
  pad.dataset.state = "busy";
  pad.setPointerCapture(event.pointerId);
  last = point(event);
  ctx.fillStyle = "#fff";
  ctx.beginPath();
  ctx.arc(last[0], last[1], 9, 0, 2 * Math.PI);
  ctx.fill();
  inked = true;
});

pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const next = point(event);
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = 18;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(last[0], last[1]);
  ctx.lineTo(next[0], next[1]);
  ctx.stroke();
  last = next;
  if (performance.now() - lastSent > THROTTLE_MS) predictPad();
});

for (const type of ["pointerup", "pointercancel", "pointerleave"]) {
  pad.addEventListener(type, () => {
    if (!drawing) return;
    drawing = false;
    if (pending) again = true;
    else predictPad();
  });
}

document.getElementById("clear").addEventListener("click", clearPad);

// Shows an uploaded picture on the pad, whole and centred on black (what
// the browser cannot decode, the server's answer explains).
async function showOnPad(file) {
  const picture = await createImageBitmap(file).catch(() => null);
  if (!picture) return;
  const scale = Math.min(
    pad.width / picture.width,
    pad.height / picture.height,
  );
  const [w, h] = [picture.width * scale, picture.height * scale];
  ctx.drawImage(picture, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
  picture.close();
}

document.getElementById("file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  clearPad();
  await showOnPad(file);
  pad.dataset.source = "upload";
  statusLine.textContent = `reading ${file.name}…`;
  // The server knows the formats: it answers a type it cannot read with 415.
  await send(file, file.type || "application/octet-stream").catch((
    error,
  ) => (statusLine.textContent = String(error)));
  event.target.value = "";
});

clearPad();
