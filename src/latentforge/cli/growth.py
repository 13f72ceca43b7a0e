"""`latentforge growth RUN`: a progan run's samples at the end of each growth phase
(`latentforge.tasks.growth`)."""
from __future__ import annotations


def add_growth(add) -> None:
    p = add("growth", help="progan: G's samples of fixed codings at the end of each growth "
            "phase (4x4, 8x8, ...) and at the end of training, one row each")
    p.add_argument("run", help="run directory of a progan run")
    p.add_argument("--n", type=int, help="images per row (default 8, or the run's "
                   "model.growth_samples when it kept fewer; at most that many)")
    p.add_argument("--out", help="PNG path (default RUN/figures/growth.png)")


def cmd_growth(args) -> int:
    from latentforge import api
    from latentforge.tasks.growth import growth_png
    from latentforge.viz.figures import png_path

    if args.out:
        png_path(args.out)  # refused before the run is loaded
    print(f"wrote {growth_png(api.load_run(args.run), args.n, args.out)}")
    return 0


COMMANDS = {"growth": cmd_growth}
