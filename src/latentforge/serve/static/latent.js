// The latent space: sliders over the codings with the decoded image updating live, the
// interpolation strip, and the sample grid. Sliders start from the last encoded image's
// codings (autoencoders) or from a seed's generated codings (generative runs).

import { api, can, debounce, el, guarded, intInput, labelName, runUrl, state } from "./api.js";
import { fmt } from "./charts.js";

const $ = (id) => document.getElementById(id);
const PAGE = 16;          // sliders shown at a time
const SEED_MAX = 2 ** 31 - 1;

const sliders = { codings: [], base: [], source: "", page: 0, range: 3, sequence: 0 };

export function setupLatent() {
  $("sliders-from-seed").addEventListener("click", () => slidersFromSeed());
  $("sliders-from-encoded").addEventListener("click", () => {
    const last = state.encoded[state.encoded.length - 1];
    if (last) startSliders(last.codings, "the last encoded image");
    else $("sliders-source").textContent = "No image encoded yet: draw or upload one first.";
  });
  $("sliders-reset").addEventListener("click", () => {
    if (sliders.base.length) startSliders(sliders.base, sliders.source);
  });
  $("sliders-prev").addEventListener("click", () => turnPage(-1));
  $("sliders-next").addEventListener("click", () => turnPage(+1));
  $("slider-label").addEventListener("change", () => decodeSoon());
  $("interpolate").addEventListener("click", () => interpolate());
  $("interp-mode").addEventListener("change", () => showInterpMode());
  $("generate").addEventListener("click", () => generate());
}

const images = () => state.run.capabilities.includes("images");
const styles = () => state.run.capabilities.includes("styles");
const conditional = () => Boolean(state.config && state.config.model && state.config.model.conditional);

/** The class to condition on (conditional runs), else null. */
function chosenLabel(id) {
  if (!conditional()) return null;
  const value = $(id).value;
  return value === "" ? null : Number(value);
}

function fillLabels(select, allowNone) {
  const n = state.run.n_classes || 0;
  const options = allowNone ? [el("option", { value: "", text: "every class in turn" })] : [];
  for (let k = 0; k < n; k += 1) options.push(el("option", { value: k, text: labelName(k) }));
  select.replaceChildren(...options);
}

/** Set up the three sections for the selected run (hidden where it cannot). */
export function showLatent() {
  const dim = state.run.latent_dim;
  const hasSliders = images() && can("decode") && Boolean(dim);
  $("sec-sliders").hidden = !hasSliders;
  $("sec-interp").hidden = !(images() && can("interpolate"));
  $("sec-samples").hidden = !(images() && can("generate"));
  $("slider-seed-controls").hidden = !can("generate");
  $("sliders-from-encoded").hidden = !(can("encode") || can("reconstruct"));
  for (const id of ["slider-label-field", "sample-label-field"]) $(id).hidden = !conditional();
  $("sample-truncation-field").hidden = !styles(); // the truncation trick: style models only
  if (conditional()) {
    fillLabels($("slider-label"), false);
    fillLabels($("sample-label"), true);
  }
  $("slider-image").removeAttribute("src");
  $("interp-strip").replaceChildren();
  $("samples").replaceChildren();
  setupInterpModes();
  if (hasSliders) {
    sliders.sequence += 1;
    if (can("generate")) {
      slidersFromSeed();
    } else {
      startSliders(new Array(dim).fill(0), "zeros: encode an image to start from its codings");
    }
  }
  if (!$("sec-samples").hidden) generate();
}

/** Called by the encode section with the codings of each newly encoded image. */
export function afterEncode(codings) {
  updateInterpHint();
  if (!$("sec-sliders").hidden && codings.length === state.run.latent_dim) {
    startSliders(codings, "the last encoded image");
  }
}

/** Put `codings` on the sliders (and remember them for Reset); decode them unless the
 *  caller already has their image. */
function startSliders(codings, source, image = null) {
  sliders.base = codings.slice();
  sliders.codings = codings.slice();
  sliders.source = source;
  const largest = Math.max(0, ...codings.map(Math.abs));
  sliders.range = Math.max(3, Math.ceil(largest * 1.5));
  sliders.page = 0;
  $("sliders-source").textContent = `Starting from ${source}.`;
  renderSliders();
  if (image) {
    sliders.sequence += 1;
    $("slider-image").src = image;
  } else {
    decodeNow();
  }
}

function turnPage(step) {
  const pages = Math.ceil(sliders.codings.length / PAGE);
  sliders.page = Math.min(pages - 1, Math.max(0, sliders.page + step));
  renderSliders();
}

function renderSliders() {
  const total = sliders.codings.length;
  const first = sliders.page * PAGE;
  const last = Math.min(total, first + PAGE);
  const r = sliders.range;
  const rows = [];
  for (let i = first; i < last; i += 1) {
    const id = `z-${i}`;
    const value = sliders.codings[i];
    const output = el("output", { for: id, text: fmt(value) });
    const input = el("input", {
      type: "range", id, min: -r, max: r, step: r / 100, value,
      "aria-label": `Latent dimension ${i}`,
      oninput: (event) => {
        sliders.codings[i] = Number(event.target.value);
        output.textContent = fmt(sliders.codings[i]);
        decodeSoon();
      },
    });
    rows.push(el("div", { class: "slider-row" }, el("label", { for: id, text: `z${i}` }), input, output));
  }
  $("sliders").replaceChildren(...rows);
  const paged = total > PAGE;
  $("sliders-pager").hidden = !paged;
  $("sliders-page").textContent = `dimensions ${first}\u2013${last - 1} of ${total}`;
  $("sliders-prev").disabled = sliders.page === 0;
  $("sliders-next").disabled = last >= total;
}

async function decodeNow() {
  const mine = ++sliders.sequence;
  const body = { codings: sliders.codings, label: chosenLabel("slider-label") };
  const data = await guarded("Decode", () => api(runUrl("decode"), { json: body }), $("sec-sliders"));
  if (data && mine === sliders.sequence) $("slider-image").src = data.image;
}

const decodeSoon = debounce(decodeNow, 120);

async function slidersFromSeed() {
  const seed = intInput("slider-seed", 0, SEED_MAX, 0);
  const mine = ++sliders.sequence;
  const body = { n: 1, seed, label: chosenLabel("slider-label"), truncation: null };
  const data = await guarded("Generate", () => api(runUrl("generate"), { json: body }), $("sec-sliders"));
  if (data && mine === sliders.sequence) startSliders(data.codings[0], `seed ${seed}`, data.images[0]);
}

// Interpolation: between two seeds (generative runs) or the last two encoded images.

function setupInterpModes() {
  const modes = [];
  if (can("generate")) modes.push(el("option", { value: "seeds", text: "two seeds" }));
  if (can("encode") || can("reconstruct")) {
    modes.push(el("option", { value: "images", text: "the last two encoded images" }));
  }
  $("interp-mode").replaceChildren(...modes);
  showInterpMode();
}

function showInterpMode() {
  $("interp-seeds").hidden = $("interp-mode").value !== "seeds";
  updateInterpHint();
}

function updateInterpHint() {
  const byImages = $("interp-mode").value === "images";
  const n = state.encoded.length;
  $("interp-hint").textContent = byImages && n < 2
    ? `Encode ${2 - n} more image${n === 1 ? "" : "s"} (draw or upload) first.` : "";
}

async function interpolate() {
  const steps = intInput("interp-steps", 2, 32, 8);
  let body;
  if ($("interp-mode").value === "seeds") {
    body = { seeds: [intInput("interp-seed-a", 0, SEED_MAX, 0), intInput("interp-seed-b", 0, SEED_MAX, 1)], steps };
  } else {
    if (state.encoded.length < 2) {
      updateInterpHint();
      return;
    }
    body = { images: state.encoded.map((e) => e.dataUrl.split(",", 2)[1]), steps };
  }
  if (conditional()) body.label = chosenLabel("slider-label"); // the sliders' class
  const data = await guarded("Interpolate", () => api(runUrl("interpolate"), { json: body }), $("sec-interp"));
  if (!data) return;
  $("interp-strip").replaceChildren(...data.images.map((src, i) =>
    el("img", { class: "pix thumb", src, alt: `Interpolation step ${i + 1} of ${data.images.length}` })));
}

// Samples: a seeded grid; a click on a sample puts its codings on the sliders.

async function generate() {
  const n = intInput("sample-n", 1, 64, 16);
  const seed = intInput("sample-seed", 0, SEED_MAX, 0);
  const text = styles() ? $("sample-truncation").value.trim() : "";
  const truncation = text === "" ? null : Number(text);
  const body = { n, seed, label: chosenLabel("sample-label"), truncation };
  const data = await guarded("Generate", () => api(runUrl("generate"), { json: body }), $("sec-samples"));
  if (!data) return;
  const editable = !$("sec-sliders").hidden;
  $("samples").replaceChildren(...data.images.map((src, i) => {
    const image = el("img", { class: "pix thumb", src, alt: `Sample ${i} of seed ${seed}` });
    if (!editable) return image;
    return el("button", {
      type: "button", class: "thumb-button", title: "Edit this sample's codings with the sliders",
      "aria-label": `Sample ${i} of seed ${seed}: edit its codings with the sliders`,
      onclick: () => startSliders(data.codings[i], `sample ${i} of seed ${seed}`, src),
    }, image);
  }));
}
