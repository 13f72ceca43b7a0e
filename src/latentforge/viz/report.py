"""A run's self-contained HTML report: header, config, learning curves, metrics, figures.

``write_report(run_dir)`` writes ``RUN/report.html``: one file with inline CSS, no script and
no external URL; images are embedded as ``data:image/png;base64`` URIs, so the file can be
mailed or archived alone. All text from the run (names, config values, file names) is escaped
with `html.escape`. Missing pieces (no metrics yet, no figures) become a short note.

Torch is not imported: a report only reads config.json and metrics.jsonl (through
`latentforge.rundir`, like every reader: the history the newest checkpoint covers), result
JSON files and PNGs, and draws the curves with matplotlib.
"""
from __future__ import annotations

import base64
import html
import io
import json
import logging
from datetime import datetime
from pathlib import Path

from latentforge import rundir

log = logging.getLogger(__name__)
REPORT = "report.html"
CONFIG_SECTIONS = ("model", "data", "train")  # = config.CONFIG_SECTIONS (config imports torch)
RESULT_FILES = ("evaluation.json", "probes.json")  # written by `evaluate` and `probe`
NOT_PLOTTED = ("epoch", "step")  # the x axis and a counter that only mirrors it
CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left;font-size:.9em}th{background:#f3f3f3}td.num{text-align:right;
font-family:monospace}figure{display:inline-block;margin:.5em;vertical-align:top}
img{max-width:100%}figcaption{font-size:.85em;color:#555}.note{color:#777;font-style:italic}
.cols{display:flex;flex-wrap:wrap;gap:2em}
"""


def write_report(run_dir: str | Path, out: str | Path | None = None,
                 extra_sections=None) -> Path:
    """Write the report of the run in `run_dir` to `out` (default RUN/report.html).

    extra_sections: iterable of (title, html) added after the standard sections; the title
        is escaped, the html is inserted as given (the caller escapes its own text).
    Raises RunError when `run_dir` has no readable config.json. Returns the written path.
    """
    from latentforge.atomic import atomic_write_text

    run_dir = Path(run_dir)
    cfg = rundir.read_config_dict(run_dir)
    history = rundir.read_history(run_dir)
    sections = [("Configuration", config_html(cfg)),
                ("Learning curves", curves_html(history)),
                ("Metrics", metrics_html(history, run_dir)),
                ("Figures", figures_html(run_dir / "figures")),
                *(extra_sections or ())]
    out = Path(out) if out is not None else run_dir / REPORT
    title = f"{run_dir.resolve().name} - latentforge report"
    atomic_write_text(out, render_page(title, header_html(cfg, run_dir, history), sections))
    log.info("wrote %s", out)
    return out


def _esc(value) -> str:
    """A value as escaped HTML text: floats with 6 significant digits, containers as JSON."""
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value)
    return html.escape(text)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def table_html(rows, head=("name", "value")) -> str:
    """An HTML table of (cell, ...) rows, `head` cells on top (none if None); numbers are
    right-aligned."""
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head or ())
    body = "".join("<tr>" + "".join(f'<td class="num">{_esc(c)}</td>' if _is_number(c)
                                    else f"<td>{_esc(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    top = f"<tr>{th}</tr>" if th else ""
    return f"<table>{top}{body}</table>"


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def header_html(cfg: dict, run_dir: Path, history: list[dict]) -> str:
    """Run name, model, recipe, library versions, epochs done and the report date."""
    from latentforge import __version__

    trained = cfg.get("latentforge_version", "unknown")
    version = trained if trained == __version__ else f"{trained} (report: {__version__})"
    rows = [("model", cfg.get("model_name", "unknown")), ("recipe", cfg.get("recipe", "")),
            ("latentforge version", version), ("epochs done", len(history)),
            ("date", datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))]
    name = html.escape(run_dir.resolve().name)
    return f"<h1>Run {name}</h1>" + table_html(rows, None)


def config_html(cfg: dict) -> str:
    """One key/value table per config section (model, data, train)."""
    parts = []
    for section in CONFIG_SECTIONS:
        values = cfg.get(section)
        body = (table_html(sorted(values.items())) if isinstance(values, dict) and values
                else _note("not in config.json"))
        parts.append(f"<div><h3>{section}</h3>{body}</div>")
    return f'<div class="cols">{"".join(parts)}</div>'


def metric_series(history: list[dict]) -> dict[str, dict[str, tuple[list, list]]]:
    """Numeric series per epoch, grouped by panel: "val_x" shares the panel of "x".

    Returns {panel: {key: (epochs, values)}} in order of first appearance; rows without an
    "epoch" and the keys in NOT_PLOTTED are left out.
    """
    keys = [k for r in history for k, v in r.items() if _is_number(v) and k not in NOT_PLOTTED]
    keys = list(dict.fromkeys(keys))
    panels: dict[str, dict] = {}
    for key in keys:
        base = key[4:] if key.startswith("val_") and key[4:] in keys else key
        rows = [r for r in history if _is_number(r.get("epoch")) and _is_number(r.get(key))]
        if rows:
            panels.setdefault(base, {})[key] = ([r["epoch"] for r in rows],
                                                [r[key] for r in rows])
    return panels


def curves_figure(panels: dict):
    """Figure with one subplot per panel of `metric_series`, value against epoch."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows), layout="constrained")
    for i, (title, series) in enumerate(panels.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        for key, (epochs, values) in series.items():
            ax.plot(epochs, values, marker="o", markersize=3, label=key)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def img_html(data: bytes, caption: str) -> str:
    """A <figure> with the PNG bytes embedded and an escaped caption."""
    alt = html.escape(caption, quote=True)
    return (f'<figure><img src="{png_data_uri(data)}" alt="{alt}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def curves_html(history: list[dict]) -> str:
    """Every numeric metric per epoch as one embedded PNG (a note when there is none)."""
    panels = metric_series(history)
    if not panels:
        return _note(f"No {rundir.METRICS} entries yet: no epoch has finished.")
    buf = io.BytesIO()
    curves_figure(panels).savefig(buf, format="png", dpi=90)
    return img_html(buf.getvalue(), "metrics per epoch (train and val_ on the same panel)")


def _flatten(data, prefix: str = "") -> list[tuple[str, object]]:
    """{"valid": {"loss": 1.0}} -> [("valid.loss", 1.0)]; lists stay whole."""
    if not isinstance(data, dict):
        return [(prefix, data)]
    return [kv for k, v in data.items()
            for kv in _flatten(v, f"{prefix}.{k}" if prefix else str(k))]


def best_epoch(history: list[dict]) -> tuple[str, dict] | None:
    """(key, row) of the row with the lowest val_loss (else loss), or None."""
    for key in ("val_loss", "loss"):
        rows = [r for r in history if _is_number(r.get(key))]
        if rows:
            return key, min(rows, key=lambda r: r[key])
    return None


def metrics_html(history: list[dict], run_dir: Path) -> str:
    """The last metrics row beside the best epoch's, then each result file found."""
    if history:
        last, best = history[-1], best_epoch(history)
        if best:
            head = ("metric", "final", f"best epoch (lowest {best[0]})")
            rows = [(k, v, best[1].get(k, "")) for k, v in last.items()]
        else:
            head, rows = ("metric", "final"), list(last.items())
        parts = [table_html(rows, head)]
    else:
        parts = [_note(f"No {rundir.METRICS} entries yet.")]
    for name in RESULT_FILES:
        parts.append(_result_file_html(run_dir / name))
    return "".join(parts)


def _result_file_html(path: Path) -> str:
    """A flattened table of one result JSON file; "" when absent, a note when unreadable."""
    if not path.is_file():
        return ""
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        return _note(f"{path.name} is not valid JSON; skipped.")
    return f"<h3>{html.escape(path.name)}</h3>" + table_html(_flatten(data))


def figures_html(folder: Path) -> str:
    """Every PNG under `folder` (sorted by relative path), captioned with that path."""
    pngs = sorted(folder.rglob("*.png")) if folder.is_dir() else []
    if not pngs:
        return _note(f"No PNG figures in {folder.name}/ yet.")
    return "".join(img_html(p.read_bytes(), p.relative_to(folder).as_posix()) for p in pngs)


def render_page(title: str, header: str, sections) -> str:
    """The whole HTML document: `header` then one <h2> section per (title, html)."""
    body = "".join(f"<section><h2>{html.escape(str(title))}</h2>{content}</section>"
                   for title, content in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
            f"<body>{header}{body}</body></html>\n")
