// Small SVG charts, drawn from plain numbers: the codings' bar chart, the anomaly gauge,
// the 2-D codings map and the learning curves. No library: each returns an <svg>.

const SVG_NS = "http://www.w3.org/2000/svg";

/** The 10 label colours of the map (Tableau 10); labels beyond cycle, none is grey. */
export const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
export const NO_LABEL = "#7f7f7f";

export function labelColor(label) {
  return label === null || label === undefined ? NO_LABEL : PALETTE[label % PALETTE.length];
}

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
}

function titled(node, text) {
  node.append(svg("title", {}, text));
  return node;
}

/** A compact number for labels: 0.0123 -> "0.0123", 1234.5 -> "1.23e+3". */
export function fmt(value) {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e4 || abs < 1e-3)) return value.toExponential(2);
  return Number(value.toPrecision(3)).toString();
}

/** Evenly spaced round ticks covering [lo, hi]. */
function ticks(lo, hi, count = 4) {
  if (lo === hi) return [lo];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    out.push(Number(t.toPrecision(12)));
  }
  return out;
}

/** Bars of one codings vector around a zero line; each bar's tooltip names its value. */
export function barChart(values, { width = 640, height = 150 } = {}) {
  const pad = { left: 44, right: 8, top: 8, bottom: 18 };
  const top = Math.max(0, ...values);       // the zero line sits where the range puts it
  const bottom = Math.max(0, ...values.map((v) => -v));
  const plotH = height - pad.top - pad.bottom;
  const scale = plotH / Math.max(1e-6, top + bottom);
  const zeroY = pad.top + top * scale;
  const slot = Math.min(40, (width - pad.left - pad.right) / values.length); // few codings: narrow bars
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart bars" });
  const right = pad.left + values.length * slot;
  chart.append(svg("line", { x1: pad.left, x2: right, y1: zeroY, y2: zeroY, class: "axis" }));
  for (const v of [top, 0, -bottom].filter((v) => v === 0 || Math.abs(v) * scale >= 12)) {
    chart.append(svg("text", { x: pad.left - 6, y: zeroY - v * scale + 4, class: "tick", "text-anchor": "end" }, fmt(v)));
  }
  values.forEach((v, i) => {
    const h = Math.abs(v) * scale;
    const bar = svg("rect", {
      x: pad.left + i * slot + slot * 0.1, width: Math.max(0.5, slot * 0.8),
      y: v >= 0 ? zeroY - h : zeroY, height: Math.max(0.5, h),
      class: v >= 0 ? "bar pos" : "bar neg",
    });
    chart.append(titled(bar, `z${i} = ${fmt(v)}`));
  });
  chart.append(svg("text", { x: pad.left, y: height - 4, class: "tick" }, "z0"));
  chart.append(svg("text", { x: pad.left + values.length * slot, y: height - 4, class: "tick",
    "text-anchor": "end" }, `z${values.length - 1}`));
  return chart;
}

/** A horizontal gauge: the score's bar, the threshold's mark, red beyond it. */
export function gauge(score, threshold, isAnomaly, { width = 640, height = 44 } = {}) {
  const pad = 8;
  const top = Math.max(score, threshold, 1e-12) * 1.25;
  const x = (v) => pad + (Math.max(0, v) / top) * (width - 2 * pad);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart gauge" });
  chart.append(svg("rect", { x: pad, y: 10, width: width - 2 * pad, height: 16, class: "track" }));
  chart.append(titled(svg("rect", { x: pad, y: 10, width: Math.max(1, x(score) - pad), height: 16,
    class: isAnomaly ? "fill anomalous" : "fill normal" }), `score ${fmt(score)}`));
  chart.append(titled(svg("line", { x1: x(threshold), x2: x(threshold), y1: 4, y2: 32, class: "threshold" }),
    `threshold ${fmt(threshold)}`));
  chart.append(svg("text", { x: x(threshold), y: height - 2, class: "tick", "text-anchor": "middle" },
    `threshold ${fmt(threshold)}`));
  return chart;
}

/**
 * The 2-D map: one circle per point ({x, y, label, index}), coloured by label. Each circle
 * carries data-index and data-label for the hover thumbnail.
 */
export function scatter(points, { width = 640, height = 420 } = {}) {
  const pad = 12;
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (v) => pad + ((v - x0) / (x1 - x0 || 1)) * (width - 2 * pad);
  const sy = (v) => height - pad - ((v - y0) / (y1 - y0 || 1)) * (height - 2 * pad);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart scatter" });
  chart.append(svg("rect", { x: 0, y: 0, width, height, class: "plot-bg" }));
  for (const p of points) {
    chart.append(svg("circle", {
      cx: sx(p.x).toFixed(1), cy: sy(p.y).toFixed(1), r: 3.5, fill: labelColor(p.label),
      "data-index": p.index, "data-label": p.label === null ? "" : p.label, class: "point",
    }));
  }
  return chart;
}

/**
 * Line chart of metric series over epochs: series = [{name, points: [[epoch, value]...],
 * dashed}]. Axes with round ticks; each point's tooltip names epoch and value.
 */
export function lineChart(series, { width = 640, height = 260 } = {}) {
  const pad = { left: 56, right: 12, top: 12, bottom: 34 };
  const all = series.flatMap((s) => s.points);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart lines" });
  if (all.length === 0) return chart;
  let [e0, e1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [v0, v1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (e0 === e1) { e0 -= 1; e1 += 1; }
  if (v0 === v1) { v0 -= Math.abs(v0) * 0.1 || 1; v1 += Math.abs(v1) * 0.1 || 1; }
  const margin = (v1 - v0) * 0.05;
  [v0, v1] = [v0 - margin, v1 + margin];
  const sx = (e) => pad.left + ((e - e0) / (e1 - e0)) * (width - pad.left - pad.right);
  const sy = (v) => height - pad.bottom - ((v - v0) / (v1 - v0)) * (height - pad.top - pad.bottom);
  for (const t of ticks(v0, v1)) {
    chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: sy(t), y2: sy(t), class: "grid" }));
    chart.append(svg("text", { x: pad.left - 6, y: sy(t) + 4, class: "tick", "text-anchor": "end" }, fmt(t)));
  }
  for (const t of ticks(e0, e1, 6).filter(Number.isInteger)) {
    chart.append(svg("text", { x: sx(t), y: height - pad.bottom + 16, class: "tick", "text-anchor": "middle" }, t));
  }
  chart.append(svg("text", { x: (pad.left + width - pad.right) / 2, y: height - 4, class: "axis-label",
    "text-anchor": "middle" }, "epoch"));
  chart.append(svg("line", { x1: pad.left, x2: pad.left, y1: pad.top, y2: height - pad.bottom, class: "axis" }));
  chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: height - pad.bottom,
    y2: height - pad.bottom, class: "axis" }));
  series.forEach((s, k) => {
    const cls = `series s${k}${s.dashed ? " dashed" : ""}`;
    const path = s.points.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
    chart.append(svg("polyline", { points: path, class: cls }));
    for (const [e, v] of s.points) {
      chart.append(titled(svg("circle", { cx: sx(e), cy: sy(v), r: 2.5, class: `dot s${k}` }),
        `${s.name}, epoch ${e}: ${fmt(v)}`));
    }
  });
  return chart;
}
