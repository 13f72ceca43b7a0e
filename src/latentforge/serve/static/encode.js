// The "Encode an image" section: the drawing pad or an uploaded file goes to the run's
// reconstruct (or encode), anomaly and similar endpoints at once; the answers fill the
// reconstruction, the codings chart, the anomaly gauge and the nearest items.

import { api, can, el, guarded, intInput, labelName, runUrl, state, widthOf } from "./api.js";
import { barChart, fmt, gauge } from "./charts.js";
import { DrawingPad } from "./draw.js";
import { afterEncode } from "./latent.js";

const $ = (id) => document.getElementById(id);
let pad = null;
let sequence = 0; // answers to an older image than the newest are dropped

export function setupEncode() {
  pad = new DrawingPad($("draw-canvas"), () => encodeDrawing());
  $("clear-canvas").addEventListener("click", () => pad.clear());
  $("encode-drawing").addEventListener("click", () => encodeDrawing());
  $("upload").addEventListener("change", (event) => upload(event.target));
}

/** Show the section's parts the selected run can do, with empty results. */
export function showEncode() {
  const images = state.run.capabilities.includes("images");
  const any = ["encode", "reconstruct", "anomaly", "similar"].some(can);
  $("sec-input").hidden = !(images && any);
  $("h-input").textContent = can("encode") || can("reconstruct") ? "Encode an image" : "Score an image";
  $("reconstruction-fig").hidden = !can("reconstruct");
  $("codings-block").hidden = !(can("encode") || can("reconstruct"));
  $("anomaly-block").hidden = !can("anomaly");
  $("similar-block").hidden = !can("similar");
  sequence += 1;
  for (const id of ["input-image", "reconstruction"]) $(id).removeAttribute("src");
  $("reconstruction-error").textContent = "reconstruction";
  for (const id of ["codings-chart", "anomaly", "similar"]) $(id).replaceChildren();
  $("codings-summary").textContent = "Draw or upload an image to see its codings.";
}

async function encodeDrawing() {
  if (!pad.dirty) return;
  await encodeImage(await pad.snapshot());
}

/** An uploaded file: shown in the pad (when the browser can decode it) and encoded as is. */
async function upload(input) {
  const file = input.files[0];
  if (!file) return;
  input.value = ""; // choosing the same file again fires "change" again
  const dataUrl = await new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
  const image = new Image();
  image.src = dataUrl;
  try {
    await image.decode();
    pad.showImage(image);
  } catch {
    pad.clear(); // not an image the browser reads: the server will say why
  }
  await encodeImage({ blob: file, dataUrl, name: file.name || "upload.png" });
}

/** Send one image ({blob, dataUrl, name}) to every endpoint of the section at once. */
async function encodeImage(input) {
  const mine = ++sequence;
  const section = $("sec-input");
  const form = () => {
    const body = new FormData();
    body.append("image", input.blob, input.name);
    return body;
  };
  const post = (what, endpoint, render) => guarded(what, () => api(runUrl(endpoint), { form: form() }), section)
    .then((data) => { if (data && mine === sequence) render(data); });
  const jobs = [];
  if (can("reconstruct")) {
    jobs.push(post("Reconstruct", "reconstruct", (data) => showReconstruction(data, input)));
  } else {
    $("input-image").src = input.dataUrl; // as sent: only reconstruct answers the resized one
  }
  if (!can("reconstruct") && can("encode")) {
    jobs.push(post("Encode", "encode", (data) => showCodings(data.codings, input)));
  }
  if (can("anomaly")) jobs.push(post("Anomaly score", "anomaly", showAnomaly));
  if (can("similar")) {
    const k = intInput("similar-k", 1, 64, 8);
    jobs.push(post("Nearest items", `similar?k=${k}`, showSimilar));
  }
  await Promise.all(jobs);
}

function showReconstruction(data, input) {
  $("input-image").src = data.input;
  $("reconstruction").src = data.reconstruction;
  $("reconstruction-error").textContent = `reconstruction, MSE ${fmt(data.error)}`;
  showCodings(data.codings, input);
}

function showCodings(codings, input) {
  $("codings-chart").replaceChildren(barChart(codings, { width: widthOf($("codings-chart")) }));
  const lo = Math.min(...codings);
  const hi = Math.max(...codings);
  $("codings-summary").textContent = `${codings.length} codings, from ${fmt(lo)} to ${fmt(hi)}`;
  $("codings-chart").setAttribute("aria-label",
    `Bar chart of the ${codings.length} codings, from ${fmt(lo)} to ${fmt(hi)}`);
  state.encoded = [...state.encoded, { dataUrl: input.dataUrl, codings }].slice(-2);
  afterEncode(codings);
}

function showAnomaly(data) {
  const verdict = data.is_anomaly ? "anomaly" : "normal";
  $("anomaly").replaceChildren(
    gauge(data.score, data.threshold, data.is_anomaly, { width: widthOf($("anomaly"), 400) }),
    el("p", { class: `verdict ${verdict}` },
      el("strong", { text: verdict }),
      ` score ${fmt(data.score)} ${data.is_anomaly ? ">" : "\u2264"} threshold ${fmt(data.threshold)}`
        + ` (${data.method})`),
  );
}

function showSimilar(data) {
  $("similar").replaceChildren(...data.items.map((item) => el("figure", { class: "item" },
    el("img", { class: "pix thumb", src: item.thumbnail, alt: `Test item ${item.index}` }),
    el("figcaption", {},
      `#${item.index}`, item.label === null ? "" : ` \u00b7 ${labelName(item.label)}`, el("br"),
      el("span", { class: "muted", text: `d = ${fmt(item.distance)}` })))));
}
