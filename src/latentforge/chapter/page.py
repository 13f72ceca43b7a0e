"""The chapter's self-contained report, OUT/chapter.html: a "book vs ours" table over every
section with wall times, then each section's rows, figures (embedded PNGs) and notes."""
from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path

from latentforge.atomic import atomic_write_text
from latentforge.viz.report import img_html, render_page, table_html

PROFILE_NOTES = {
    "full": "Every section ran its book recipe on the full data.",
    "quick": "Sections ran the fast recipes; those marked 'cut' had their budgets cut "
             "(fewer epochs or images) to fit 10 minutes on 2 CPU cores, so their values "
             "are not the book's to compare with.",
    "smoke": "Smoke profile: tiny runs on scikit-learn's digits. The values only show "
             "that every section runs; they say nothing about quality.",
}


def book_rows(results) -> list[list]:
    """[section, metric, book, ours, seconds, what ran] rows (seconds and what ran on each
    section's first row)."""
    rows = []
    for r in results:
        label = r.key + (" (cut)" if r.cut else "")
        lines = r.rows or [["-", "-", r.note and "not run (see section)" or "-"]]
        for i, (metric, book, ours) in enumerate(lines):
            first = i == 0
            rows.append([label if first else "", metric, book, ours,
                         r.seconds if first else "", r.recipe if first else ""])
    return rows


def section_html(out: Path, r) -> str:
    parts = [table_html(r.rows, ("metric", "book", "ours"))] if r.rows else []
    if r.note:
        parts.append(f"<p>{html.escape(r.note)}</p>")
    for rel in r.figures:
        path = out / rel
        if path.is_file():
            parts.append(img_html(path.read_bytes(), rel))
    parts.append(f"<p class=\"note\">{r.seconds:.1f} s; run folder {html.escape(r.key)}/</p>")
    return "".join(parts)


def write_chapter_page(out: Path, results, profile: str, seconds: float) -> Path:
    """Write OUT/chapter.html and return its path."""
    from latentforge import __version__

    header = (f"<h1>Hands-On ML ch. 17, reproduced by latentforge {html.escape(__version__)}"
              f"</h1><p>Profile <b>{html.escape(profile)}</b>: "
              f"{html.escape(PROFILE_NOTES[profile])} Wall time of this invocation: "
              f"{seconds / 60:.1f} min (reused sections count their own time below); "
              f"{datetime.now():%Y-%m-%d %H:%M}.</p>")
    total = sum(r.seconds for r in results)
    sections = [("Book vs ours", table_html(
        book_rows(results), ("section", "metric", "book", "ours", "seconds", "what ran"))
        + f"<p>Sum of section times: {total / 60:.1f} min.</p>")]
    sections += [(r.title, section_html(out, r)) for r in results]
    path = out / "chapter.html"
    atomic_write_text(path, render_page("latentforge: chapter 17", header, sections))
    return path
