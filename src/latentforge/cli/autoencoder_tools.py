"""`latentforge reconstruct`, `greedy`, `hashes` and `encode`: autoencoder tools over
`latentforge.tasks` (codings.py, protocols.py)."""
from __future__ import annotations

from latentforge.cli.common import SPLITS, out_path, print_metrics


def add_reconstruct(add) -> None:
    p = add("reconstruct", help="figure of originals over reconstructions (runs trained "
            "on tables: a CSV of original and reconstructed rows)")
    p.add_argument("run", help="run directory")
    p.add_argument("--n", type=int, default=5, help="number of images (default 5)")
    p.add_argument("--split", default="valid", choices=SPLITS)
    p.add_argument("--out", help="PNG path (default RUN/figures/reconstructions.png; "
                   "tables: CSV path, default RUN/reconstructions.csv)")


def cmd_reconstruct(args) -> int:
    from latentforge import api
    from latentforge.errors import LatentforgeError
    from latentforge.tasks import reconstruct

    if args.n < 1:
        raise LatentforgeError(f"--n must be at least 1, got {args.n}")
    print(f"wrote {reconstruct(api.load_run(args.run), args.n, args.split, args.out)}")
    return 0


def add_greedy(add) -> None:
    p = add("greedy", help="greedy layer-wise training: one shallow autoencoder at a time, "
            "stacked, then fine-tuned (book ch. 17)")
    p.add_argument("--hidden", type=int, nargs="+", default=[100, 30],
                   help="coding sizes of the phases (default: 100 30)")
    p.add_argument("--epochs", type=int, default=10, help="epochs of each phase (book: 10)")
    p.add_argument("--finetune-epochs", type=int, default=10, help="fine-tuning epochs (10)")
    p.add_argument("--data", help="data source (default fashion-mnist)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="data.* / train.* override for every phase")
    p.add_argument("--name", default="greedy", help="folder under --runs-dir (greedy)")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--overwrite", action="store_true", help="start over")
    p.add_argument("--no-progress", action="store_true")


def cmd_greedy(args) -> int:
    from latentforge.tasks import greedy

    result = greedy(args.runs_dir, args.name, args.hidden, args.epochs, args.finetune_epochs,
                    args.data, args.overrides, not args.no_progress, args.overwrite)
    print(f"{'phase':8s}{'val_loss':>12s}{'val_rounded_accuracy':>22s}")
    for phase, rec in result.summary.items():
        acc = rec.get("val_rounded_accuracy")
        print(f"{phase:8s}{rec.get('val_loss', float('nan')):12.4f}"
              f"{'-' if acc is None else f'{acc:.4f}':>22s}")
    print(f"phases in {result.root}; the fine-tuned model is {result.root / 'stack'}")
    return 0


def add_hashes(add) -> None:
    p = add("hashes", help="binary hashes of a hashing autoencoder run (hashing_ae): "
            "statistics and a grid of images sharing the most common hashes")
    p.add_argument("run", help="run directory")
    p.add_argument("--split", default="valid", choices=SPLITS)
    p.add_argument("--top", type=int, default=10, help="most common hashes shown (10)")
    p.add_argument("--per-hash", type=int, default=6, help="images per hash (6)")
    p.add_argument("--out", help="PNG path (default RUN/figures/hash_grid.png)")


def cmd_hashes(args) -> int:
    from latentforge import api
    from latentforge.errors import LatentforgeError
    from latentforge.evaluation.capabilities import can, require
    from latentforge.tasks import hash_grid, hash_summary

    if args.top < 1 or args.per_hash < 1:
        raise LatentforgeError("--top and --per-hash must be at least 1")
    run = api.load_run(args.run)
    require(run, "hash", "hashes")
    if args.out:
        require(run, "images", "hashes --out")
    print_metrics(hash_summary(run, args.split))
    if not can(run.model, "images"):
        print("no hash grid: the run's items are table rows, not images")
        return 0
    print(f"wrote {hash_grid(run, args.split, args.top, args.per_hash, out_path(args.out))}")
    return 0


def add_encode(add) -> None:
    p = add("encode", help="write the codings of a split to a .npy file")
    p.add_argument("run", help="run directory")
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--out", help=".npy path (default RUN/codings-SPLIT.npy); labels, if any, "
                   "go beside it as *.labels.npy")


def cmd_encode(args) -> int:
    from pathlib import Path

    from latentforge import api
    from latentforge.tasks import encode_split, write_codings
    from latentforge.tasks.codings import codings_path

    run = api.load_run(args.run)
    result = encode_split(run, args.split)
    out = codings_path(run, args.split, args.out or Path(args.run) / f"codings-{args.split}.npy")
    write_codings(result, out)
    shape = result.codings.shape
    print(f"wrote {out}: {shape[0]} codings of size {shape[1]}")
    return 0


COMMANDS = {"reconstruct": cmd_reconstruct, "greedy": cmd_greedy, "hashes": cmd_hashes,
            "encode": cmd_encode}
