"""`latentforge map`, `top-activations`, `probe`, `search` and `pretrain-classifier`: what
a run's codings are worth, over `latentforge.tasks` (representation.py, top_activations.py,
search.py). `top-activations` is a command of its own, not a `map` option: it draws images
per coding unit, and none of map's options (2-D method, thumbnails) would apply to it."""
from __future__ import annotations

from pathlib import Path

from latentforge.cli.common import SPLITS
from latentforge.evaluation.search import DISTANCES
from latentforge.viz.maps import MAP_METHODS


def add_map(add) -> None:
    p = add("map", help="2-D map of the codings coloured by class, with thumbnails "
            "(book figure 17-5)")
    p.add_argument("run", help="run directory")
    p.add_argument("--method", default="tsne", choices=MAP_METHODS,
                   help="tsne (default), pca, or umap (needs umap-learn)")
    p.add_argument("--split", default="valid", choices=SPLITS)
    p.add_argument("--n", type=int, default=5000, help="items mapped, a seeded sample "
                   "(default 5000, the book's whole validation set)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="PNG path (default RUN/figures/latent_map_METHOD_SPLIT.png)")


def cmd_map(args) -> int:
    from latentforge import api
    from latentforge.tasks import map_codings

    run = api.load_run(args.run)
    print(f"wrote {map_codings(run, args.method, args.split, args.n, args.seed, args.out)}")
    return 0


def add_top_activations(add) -> None:
    p = add("top-activations", help="for each coding unit, the items that activate it most "
            "(the book's exercise 9; any model that encodes)")
    p.add_argument("run", help="run directory")
    p.add_argument("--units", type=int, default=10, help="units shown: the most variable "
                   "over the encoded items (10)")
    p.add_argument("--per-unit", type=int, default=8, help="items per unit (8)")
    p.add_argument("--split", default="train", choices=SPLITS, help="items searched (train)")
    p.add_argument("--n", type=int, default=10000, help="a seeded sample of this many items "
                   "is encoded (10000; 0 = the whole split)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="PNG path (default RUN/figures/top_activations.png)")


def cmd_top_activations(args) -> int:
    from latentforge import api
    from latentforge.tasks.top_activations import top_activations, top_activations_png
    from latentforge.viz.figures import png_path

    out = png_path(args.out or Path(args.run) / "figures" / "top_activations.png")
    run = api.load_run(args.run)
    result = top_activations(run, args.units, args.per_unit, args.split, args.n or None,
                             args.seed)
    for unit, values in zip(result.units, result.values):
        print(f"unit {int(unit):4d}: top activations {', '.join(f'{v:.3g}' for v in values)}")
    print(f"wrote {top_activations_png(result, out)}")
    return 0


def add_probe(add) -> None:
    p = add("probe", help="linear-probe and kNN accuracy of the codings (fit on train, "
            "scored on test)")
    p.add_argument("run", help="run directory")
    p.add_argument("--k", type=int, default=5, help="neighbours of the kNN vote (5)")
    p.add_argument("--limit", type=int, help="fit on a seeded sample of this many train "
                   "items (default: all)")


def cmd_probe(args) -> int:
    from latentforge import api
    from latentforge.tasks import probe, save_json
    from latentforge.tasks.representation import probe_table

    run = api.load_run(args.run)
    result = probe(run, args.limit, args.k)
    print(probe_table(run, result))
    save_json(Path(args.run) / "probes.json", result)
    return 0


def add_search(add) -> None:
    p = add("search", help="nearest items of a database split to a query image, by codings "
            "(or binary hashes), with a figure")
    p.add_argument("run", help="run directory")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--query", metavar="IMG", help="query image file")
    group.add_argument("--index", type=int, default=0, help="query item of --split (0)")
    p.add_argument("--split", default="test", choices=SPLITS,
                   help="split of the --index query (test)")
    p.add_argument("--db", default="train", choices=SPLITS, help="split searched (train)")
    p.add_argument("--k", type=int, default=10, help="neighbours returned (10)")
    p.add_argument("--metric", default="euclidean", choices=DISTANCES,
                   help="distance between codings; hamming = binary hashes (hashing_ae)")
    p.add_argument("--precision", type=int, metavar="N", help="also measure the share of "
                   "same-class neighbours over N seeded --split queries")
    p.add_argument("--out", help="PNG path (default RUN/figures/search.png)")


def cmd_search(args) -> int:
    from latentforge import api
    from latentforge.evaluation.capabilities import can, require
    from latentforge.tasks import search, search_figure
    from latentforge.viz.figures import png_path

    out = png_path(args.out or Path(args.run) / "figures" / "search.png")
    run = api.load_run(args.run)
    if args.out:
        require(run, "hash" if args.metric == "hamming" else "encode",
                f"search --metric {args.metric}")
        require(run, "images", "search --out")
    r = search(run, args.query, args.index, args.split, args.db, args.k, args.metric,
               args.precision)
    print(f"query: {r.query_name}; {args.k} nearest of {r.db_size} {args.db} items "
          f"({args.metric})")
    print(f"{'rank':>4s} {'index':>7s} {'distance':>10s}  class")
    for rank, (i, d, c) in enumerate(zip(r.indices, r.distances, r.classes), 1):
        print(f"{rank:4d} {i:7d} {d:10.4f}  {c}")
    if can(run.model, "images"):
        print(f"wrote {search_figure(r, out)}")
    else:
        print("no figure: the run's items are table rows, not images")
    if r.precision:
        print(f"same-class share of the {args.k} nearest over {r.precision['n_queries']} "
              f"{args.split} queries: {r.precision['precision_at_k']:.4f}")
    return 0


def add_pretrain(add) -> None:
    p = add("pretrain-classifier", help="few-label classifier on the pretrained encoder "
            "(frozen, then fine-tuned) against the same network from scratch")
    p.add_argument("run", help="run directory of a trained autoencoder")
    p.add_argument("--labels", type=int, default=500, help="labelled train items (500)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                   help="repeats, each with its own labelled subset and inits (0 1 2)")
    p.add_argument("--epochs", type=int, default=30, help="epochs of every variant (30)")
    p.add_argument("--frozen-epochs", type=int, default=10,
                   help="epochs the fine-tuned variant first keeps the encoder frozen (10)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    p.add_argument("--finetune-lr", type=float, default=1e-3,
                   help="Adam learning rate once the encoder is unfrozen (1e-3)")
    p.add_argument("--split", default="valid", choices=SPLITS[1:],
                   help="split the accuracies are measured on (valid)")
    p.add_argument("--device", default="cpu", help="auto | cpu | cuda | mps (cpu)")


def cmd_pretrain(args) -> int:
    from latentforge import api
    from latentforge.tasks import pretrain, write_pretrain
    from latentforge.tasks.representation import pretrain_settings

    settings = pretrain_settings(args.epochs, args.frozen_epochs, args.lr, args.finetune_lr)
    run = api.load_run(args.run)
    result = pretrain(run, args.labels, settings, args.seeds, args.split, args.device)
    print(result.table())
    out = write_pretrain(run, result, args.labels, args.split,
                         Path(args.run) / f"pretrain-{args.labels}-{args.split}.json")
    print(f"wrote {out}")
    return 0


COMMANDS = {"map": cmd_map, "probe": cmd_probe, "search": cmd_search,
            "pretrain-classifier": cmd_pretrain, "top-activations": cmd_top_activations}
