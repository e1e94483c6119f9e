// The drawing page: pointer events draw on #pad; while drawing (throttled)
// and when a stroke ends, the canvas goes to POST /api/predict as a PNG, and
// #prediction and the bars show the answer. A file input uploads a picture.
const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const prediction = document.getElementById("prediction");
const statusLine = document.getElementById("status");
const bars = document.getElementById("bars");
const THROTTLE_MS = 150;

function clearPad() {
  generation++; // answers to earlier drawings are dropped
  again = false;
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, pad.width, pad.height);
  prediction.textContent = "–";
  statusLine.textContent = "Draw a digit to begin.";
  showBars(null);
  inked = false;
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
  const response = await fetch("/api/predict", {
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
    return;
  }
  prediction.textContent = String(answer.classes[0]);
  statusLine.textContent = `p = ${
    answer.probabilities[0][answer.classes[0]].toFixed(2)
  }`;
  showBars(answer.probabilities[0]);
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

document.getElementById("file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  statusLine.textContent = `reading ${file.name}…`;
  // The server knows the formats: it answers a type it cannot read with 415.
  await send(file, file.type || "application/octet-stream").catch((
    error,
  ) => (statusLine.textContent = String(error)));
  event.target.value = "";
});

clearPad();
