// The explorer's link to `latentforge serve`: one fetch helper, the shared state, the
// error banner and a few DOM helpers. Every request goes through `api`, so every failure
// reaches the page as one readable line (never an alert).

/** What the sections share: the selected run, its config, the last encoded images. */
export const state = {
  run: null,        // the /api/runs object of the selected run
  config: null,     // its config.json
  encoded: [],      // the last two encoded images: {dataUrl, codings}
};

/** An answer with a 4xx/5xx status, or no answer at all. */
export class ApiError extends Error {}

/** FastAPI's `detail`: a sentence, or a list of validation problems. */
function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
  }
  return JSON.stringify(detail);
}

/**
 * Call the API: `api("/api/runs")`, `api(url, {json: {...}})`, `api(url, {form})`.
 * A body makes it a POST. Returns the parsed JSON answer; throws ApiError with the
 * server's `detail` otherwise.
 */
export async function api(path, { json, form } = {}) {
  const init = { method: json !== undefined || form !== undefined ? "POST" : "GET" };
  if (json !== undefined) {
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(`the server did not answer (${err.message})`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const detail = data && data.detail !== undefined ? detailText(data.detail)
      : text.slice(0, 200) || response.statusText;
    throw new ApiError(`${detail} (HTTP ${response.status})`);
  }
  return data;
}

/** The URL of an endpoint of the selected run: runUrl("decode") -> /api/runs/NAME/decode. */
export function runUrl(endpoint = "") {
  const base = `/api/runs/${encodeURIComponent(state.run.name)}`;
  return endpoint ? `${base}/${endpoint}` : base;
}

/** Whether the selected run offers an endpoint ("decode", "generate", ...). */
export function can(endpoint) {
  return Boolean(state.run && state.run.endpoints.includes(endpoint));
}

/** Show one error line in the banner (#error); `what` says which action failed. */
export function showError(what, err) {
  const box = document.getElementById("error");
  document.getElementById("error-text").textContent = `${what}: ${err.message || err}`;
  box.hidden = false;
  if (!(err instanceof ApiError)) console.warn(err); // a page bug, not a server answer
}

export function clearError() {
  document.getElementById("error").hidden = true;
  document.getElementById("error-text").textContent = "";
}

/**
 * Run `task` (async) for the selected run; its errors go to the banner under `what`.
 * Returns undefined (and drops the result) when the user switched runs meanwhile.
 * `section` gets aria-busy while it runs.
 */
export async function guarded(what, task, section = null) {
  const run = state.run;
  busy(section, +1);
  try {
    const result = await task();
    return state.run === run ? result : undefined;
  } catch (err) {
    if (state.run === run) showError(what, err);
    return undefined;
  } finally {
    busy(section, -1);
  }
}

/** aria-busy on `section` while any of its requests is pending (tests wait on it too). */
function busy(section, delta) {
  if (!section) return;
  const pending = Number(section.dataset.pending || 0) + delta;
  section.dataset.pending = String(pending);
  if (pending > 0) section.setAttribute("aria-busy", "true");
  else section.removeAttribute("aria-busy");
}

/** The width in CSS pixels an SVG chart should have in `container` (its content box). */
export function widthOf(container, fallback = 640) {
  return Math.round(container.clientWidth) || fallback;
}

/** document.createElement with attributes and children in one call. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children);
  return node;
}

/** The name of class `label` of the selected run ("Sneaker"), or the number itself. */
export function labelName(label) {
  if (label === null || label === undefined) return "";
  const names = state.run && state.run.class_names;
  return names && names[label] !== undefined ? `${names[label]}` : `class ${label}`;
}

/** Wait `ms` after the last call before calling `fn` (slider drags, redraws). */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** An integer from a number input, clamped to [min, max]; `fallback` when empty. */
export function intInput(id, min, max, fallback) {
  const value = Number.parseInt(document.getElementById(id).value, 10);
  if (Number.isNaN(value)) return fallback;
  return Math.min(max, Math.max(min, value));
}
