// The run as a whole: the 2-D map of the test items' codings (hover a point for its
// image) and the learning curves of metrics.jsonl.

import { api, can, el, guarded, intInput, labelName, runUrl, state, widthOf } from "./api.js";
import { fmt, labelColor, lineChart, scatter } from "./charts.js";

const $ = (id) => document.getElementById(id);
let history = [];

export function setupInsight() {
  $("map-draw").addEventListener("click", () => drawMap());
  $("curve-metric").addEventListener("change", () => drawCurves());
  const map = $("map");
  map.addEventListener("pointerover", (event) => hoverPoint(event));
  map.addEventListener("pointermove", (event) => placeTip(event));
  map.addEventListener("pointerleave", () => { $("map-tip").hidden = true; });
}

export function showInsight() {
  $("sec-map").hidden = !can("map");
  $("sec-curves").hidden = false;
  $("map").replaceChildren();
  $("map-legend").replaceChildren();
  $("map-tip").hidden = true;
  $("curves").replaceChildren();
  if (can("map")) drawMap();
  loadCurves();
}

// The map

async function drawMap() {
  const n = intInput("map-n", 4, 5000, 500);
  const method = $("map-method").value;
  $("map-caption").textContent = `Computing the ${method} map of ${n} test items\u2026`;
  const data = await guarded("Codings map",
    () => api(`${runUrl("map")}?n=${n}&method=${encodeURIComponent(method)}`), $("sec-map"));
  if (!data) {
    $("map-caption").textContent = "";
    return;
  }
  const width = widthOf($("map"));
  const chart = scatter(data.points, { width, height: Math.round(width * 0.7) });
  chart.setAttribute("role", "img");
  chart.setAttribute("aria-label", `Scatter plot of ${data.points.length} test items' codings (${data.method})`);
  $("map").replaceChildren(chart);
  const labels = [...new Set(data.points.map((p) => p.label))].sort((a, b) => (a ?? -1) - (b ?? -1));
  $("map-legend").replaceChildren(...labels.map((label) => el("li", {},
    el("span", { class: "swatch", style: `background:${labelColor(label)}` }),
    label === null ? "no label" : labelName(label))));
  $("map-caption").textContent = `${data.points.length} test items, ${data.method}.`
    + (state.run.capabilities.includes("images") ? " Hover a point to see its image." : "");
}

function hoverPoint(event) {
  const point = event.target.closest("circle.point");
  if (!point || !state.run.capabilities.includes("images")) return;
  const index = point.dataset.index;
  const label = point.dataset.label === "" ? null : Number(point.dataset.label);
  $("map-tip-image").src = `${runUrl("items")}/${index}.png`;
  $("map-tip-image").alt = `Test item ${index}`;
  $("map-tip-caption").textContent = `#${index}` + (label === null ? "" : ` \u00b7 ${labelName(label)}`);
  $("map-tip").hidden = false;
  placeTip(event);
}

function placeTip(event) {
  const tip = $("map-tip");
  if (tip.hidden) return;
  const box = $("map-frame").getBoundingClientRect();
  const x = event.clientX - box.left;
  const y = event.clientY - box.top;
  tip.style.left = `${x + 14 + tip.offsetWidth > box.width ? x - 14 - tip.offsetWidth : x + 14}px`;
  const lowest = box.height - tip.offsetHeight; // inside the frame, over the legend never
  tip.style.top = `${Math.max(0, Math.min(lowest, y - tip.offsetHeight / 2))}px`;
}

// The learning curves

const SKIP = new Set(["epoch", "step", "time_s"]);

async function loadCurves() {
  const data = await guarded("Learning curves", () => api(runUrl("metrics")), $("sec-curves"));
  if (!data) return;
  history = data.history;
  const bases = [];
  for (const row of history) {
    for (const [key, value] of Object.entries(row)) {
      const base = key.replace(/^val_/, "");
      if (typeof value === "number" && !SKIP.has(key) && !bases.includes(base)) bases.push(base);
    }
  }
  const rank = (b) => (b === "loss" ? 0 : b.includes("loss") ? 1 : 2);
  bases.sort((a, b) => rank(a) - rank(b));
  $("curve-metric").replaceChildren(...bases.map((b) => el("option", { value: b, text: b })));
  drawCurves();
}

function drawCurves() {
  const base = $("curve-metric").value;
  const series = [
    { name: base, key: base, dashed: false },
    { name: `val_${base}`, key: `val_${base}`, dashed: true },
  ].map((s) => ({
    ...s,
    points: history.map((row, i) => [row.epoch ?? i + 1, row[s.key]])
      .filter(([, v]) => typeof v === "number" && Number.isFinite(v)),
  })).filter((s) => s.points.length > 0);
  if (series.length === 0) {
    $("curves").replaceChildren(el("p", { class: "muted", text: "No epoch has finished yet." }));
    return;
  }
  const width = widthOf($("curves"));
  const chart = lineChart(series, { width, height: Math.round(Math.min(320, width * 0.55)) });
  chart.setAttribute("role", "img");
  const last = history[history.length - 1];
  chart.setAttribute("aria-label", `${base} per epoch` + (last && typeof last[base] === "number"
    ? `; last epoch ${fmt(last[base])}` : ""));
  const legend = el("ul", { class: "legend" }, ...series.map((s, k) => el("li", {},
    el("span", { class: `line-key s${k}${s.dashed ? " dashed" : ""}` }),
    `${s.name} (${s.dashed ? "validation" : "training"})`)));
  $("curves").replaceChildren(chart, legend);
}
