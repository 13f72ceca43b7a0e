// The web explorer of `latentforge serve`: pick a run, then each section shows what that
// run can do (the run's "endpoints" list decides; the others are hidden).

import { api, clearError, el, guarded, runUrl, showError, state } from "./api.js";
import { setupEncode, showEncode } from "./encode.js";
import { setupInsight, showInsight } from "./insight.js";
import { setupLatent, showLatent } from "./latent.js";

const $ = (id) => document.getElementById(id);
let runs = [];

async function loadRuns() {
  const data = await guarded("Loading the runs", () => api("/api/runs"));
  if (!data) return;
  runs = data.runs;
  const select = $("run-select");
  select.replaceChildren(...runs.map((run) => el("option", {
    value: run.name, text: `${run.name} (${run.model}, ${run.epochs} epoch${run.epochs === 1 ? "" : "s"})`,
  })));
  select.disabled = runs.length === 0;
  if (runs.length === 0) {
    $("run-info").replaceChildren(el("p", { class: "muted",
      text: "No run in this folder yet: train one with `latentforge train MODEL`." }));
    return;
  }
  let wanted = "";
  try {
    wanted = decodeURIComponent(location.hash.slice(1));
  } catch {
    wanted = ""; // a malformed #fragment: start from the first run
  }
  select.value = runs.some((run) => run.name === wanted) ? wanted : runs[0].name;
  await selectRun(select.value);
}

async function selectRun(name) {
  const run = runs.find((r) => r.name === name);
  if (!run) return;
  clearError();
  delete document.body.dataset.run;
  state.run = run;
  state.config = null;
  state.encoded = [];
  history.replaceState(null, "", `#${encodeURIComponent(name)}`);
  showRunInfo(run);
  sizeImages(run.sample_shape);
  state.config = (await guarded("Loading the run's config", () => api(runUrl("config")))) || null;
  if (state.run !== run) return;
  showEncode();
  showLatent();
  showInsight();
  // Every first request is under way now (its section is aria-busy until it answers).
  document.body.dataset.run = run.name;
}

function showRunInfo(run) {
  const shape = run.sample_shape.join("\u00d7");
  const facts = [run.model, `${run.recipe} recipe`, `${run.epochs} epoch${run.epochs === 1 ? "" : "s"}`,
    `items ${shape}`];
  if (run.latent_dim) facts.push(`${run.latent_dim} latent dimensions`);
  if (run.n_classes) facts.push(`${run.n_classes} classes`);
  $("run-info").replaceChildren(
    el("p", { class: "facts", text: facts.join(" \u00b7 ") }),
    el("ul", { class: "chips", "aria-label": "Capabilities" },
      ...run.capabilities.map((c) => el("li", { text: c }))),
  );
}

/** Pixel images are shown scaled by a whole factor, about 120 px (thumbnails 60 px); their
 *  size is set before they load, so nothing moves when they arrive. */
function sizeImages(shape) {
  const [h, w] = shape.length === 3 ? shape.slice(1) : [1, 1];
  const side = Math.max(h, w);
  const root = document.documentElement.style;
  for (const [name, target] of [["big", 120], ["thumb", 60]]) {
    const scale = Math.max(1, Math.round(target / side));
    root.setProperty(`--${name}-w`, `${w * scale}px`);
    root.setProperty(`--${name}-h`, `${h * scale}px`);
  }
}

function start() {
  $("run-select").addEventListener("change", (event) => selectRun(event.target.value));
  $("error-close").addEventListener("click", () => clearError());
  window.addEventListener("unhandledrejection", (event) => showError("Unexpected error", event.reason));
  setupEncode();
  setupLatent();
  setupInsight();
  loadRuns();
}

start();
