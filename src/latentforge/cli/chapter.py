"""`latentforge chapter`: Hands-On ML ch. 17 section by section (`latentforge.chapter`)."""
from __future__ import annotations

from pathlib import Path

from latentforge.cli.anomalies import quiet_runs


def add_chapter(add) -> None:
    p = add("chapter", help="reproduce Hands-On ML ch. 17 section by section (every book "
            "recipe and figure) into one chapter.html with a book-vs-ours table")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="fast recipes and cut budgets: "
                       "under 10 minutes on 2 CPU cores")
    group.add_argument("--smoke", action="store_true", help="tiny digits runs of every "
                       "section in about a minute: checks the install, not quality")
    p.add_argument("--out", help="output folder (default runs/chapter-PROFILE)")
    p.add_argument("--sections", nargs="+", metavar="KEY", help="only these sections (and "
                   "what they need), e.g. stacked vae; default: all")
    p.add_argument("--overwrite", action="store_true", help="rerun sections already done "
                   "(by default an interrupted chapter continues where it stopped)")
    p.add_argument("--verbose", action="store_true", help="log every epoch of every run "
                   "(default: one line per section)")


def cmd_chapter(args) -> int:
    from latentforge.chapter import run_chapter

    profile = "quick" if args.quick else "smoke" if args.smoke else "full"
    out = Path(args.out or f"runs/chapter-{profile}")
    with quiet_runs(args.verbose):
        results = run_chapter(out, profile, args.sections, args.overwrite,
                              progress=lambda line: print(line, flush=True))
    total = sum(r.seconds for r in results)
    print(f"{len(results)} sections, {total / 60:.1f} min of section time; wrote "
          f"{out / 'chapter.html'} and {out / 'chapter.json'}")
    return 0


COMMANDS = {"chapter": cmd_chapter}
