"""The `latentforge` command line: thin subcommands over the public API.

Heavy libraries (torch, matplotlib, scikit-learn) are imported inside the commands, so
``latentforge --help`` is instant. Errors meant for the user print one line and exit with
the error's code (`latentforge.errors`: 2 bad input, 3 training diverged, 4 disk full or
not enough memory, 5 run in use; 130 on Ctrl-C); the last saved checkpoint is always kept.
"""
from __future__ import annotations

import argparse
import json
import functools
import logging
import sys
from pathlib import Path

from latentforge.cli_use import COMMANDS as USE_COMMANDS
from latentforge.cli_use import (add_anomaly_commands, add_chapter_command,
                                 add_report_command)
from latentforge.errors import LatentforgeError

EXAMPLES = """examples:
  latentforge models
  latentforge train stacked_ae                      # book recipe, Fashion-MNIST
  latentforge train stacked_ae --epochs 2 --name quick
  latentforge train linear_ae --recipe fast
  latentforge train stacked_ae --data digits --set model.hidden=[32,8]
  latentforge train stacked_ae --resume             # continue runs/stacked_ae-book
  latentforge evaluate runs/stacked_ae-book
  latentforge report runs/stacked_ae-book        # self-contained report.html
  latentforge reconstruct runs/stacked_ae-book --n 8
  latentforge encode runs/stacked_ae-book --split test --out codings.npy
  latentforge map runs/stacked_ae-book --method tsne
  latentforge probe runs/stacked_ae-book
  latentforge pretrain-classifier runs/stacked_ae-fast --labels 500
  latentforge train dcgan --recipe fast
  latentforge generate runs/dcgan-fast --n 64
  latentforge interpolate runs/vae-book --method slerp
  latentforge evaluate runs/dcgan-fast          # FID, KID, precision/recall, coverage
  latentforge train conv_ae --recipe fast --set data.train_classes=[0] --name tshirts
  latentforge anomalies runs/tshirts --score knn
  latentforge benchmark one-class --model conv_ae --seeds 0 1 2
  latentforge chapter --quick                   # the whole chapter in < 10 min
"""


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="registered model name (see 'latentforge models')")
    p.add_argument("--recipe", default="book", help="recipe to start from (default: book)")
    p.add_argument("--config", metavar="FILE", help="JSON or TOML file with model/data/train "
                   "sections, applied after the recipe")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one value, e.g. --set train.epochs=5 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latentforge", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train, evaluate and use the autoencoders and GANs of Hands-On ML ch. 17.",
        epilog=EXAMPLES)
    parser.add_argument("--version", action="version", version=_version())
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    add = functools.partial(sub.add_parser, parents=[common])  # -q works on every command

    _add_core_commands(add)
    _add_autoencoder_commands(add)
    _add_generative_commands(add)
    add_anomaly_commands(add)
    add_report_command(add)
    add_chapter_command(add)
    return parser


def _add_core_commands(add) -> None:
    """models, config, train, evaluate."""
    add("models", help="list registered models and their recipes")

    p = add("config", help="print the resolved config of a model and recipe")
    _add_config_args(p)

    p = add("train", help="train a model into a run directory")
    _add_config_args(p)
    p.add_argument("--epochs", type=int, help="shortcut for --set train.epochs=N")
    p.add_argument("--data", help="shortcut for --set data.source=SRC (fashion-mnist, mnist, "
                   "digits, synthetic3d, or a folder / .npy / .npz / .csv path)")
    p.add_argument("--device", help="auto | cpu | cuda | mps (shortcut for train.device)")
    p.add_argument("--name", help="run name (default: MODEL-RECIPE)")
    p.add_argument("--runs-dir", default="runs", help="parent folder of runs (default: runs)")
    p.add_argument("--resume", action="store_true", help="continue the run from its last "
                   "checkpoint (its saved config plus any --set/--epochs)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--tensorboard", action="store_true", help="also log the epoch metrics "
                   "to RUN/tensorboard (needs: pip install 'latentforge[tensorboard]')")

    p = add("evaluate", help="metrics that fit the run: losses and rounded accuracy; for "
            "VAEs the test ELBO and IWAE NLL; for generative models FID/KID/precision/"
            "recall/class coverage of samples")
    p.add_argument("run", help="run directory")
    p.add_argument("--split", nargs="+", default=["valid", "test"],
                   choices=["train", "valid", "test"])
    p.add_argument("--samples", type=int, default=10_000, help="samples for the sample "
                   "metrics of generative models (10000; 0 skips them)")
    p.add_argument("--k", type=int, default=50, help="importance samples of the VAE's "
                   "IWAE NLL (50; 0 skips the likelihood)")


def _add_autoencoder_commands(add) -> None:
    """reconstruct, greedy, hashes, encode, map, probe, search, pretrain-classifier."""
    p = add("reconstruct", help="figure of originals over reconstructions (runs trained "
            "on tables: a CSV of original and reconstructed rows)")
    p.add_argument("run", help="run directory")
    p.add_argument("--n", type=int, default=5, help="number of images (default 5)")
    p.add_argument("--split", default="valid", choices=["train", "valid", "test"])
    p.add_argument("--out", help="PNG path (default RUN/figures/reconstructions.png; "
                   "tables: CSV path, default RUN/reconstructions.csv)")

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

    p = add("hashes", help="binary hashes of a hashing autoencoder run (hashing_ae): "
            "statistics and a grid of images sharing the most common hashes")
    p.add_argument("run", help="run directory")
    p.add_argument("--split", default="valid", choices=["train", "valid", "test"])
    p.add_argument("--top", type=int, default=10, help="most common hashes shown (10)")
    p.add_argument("--per-hash", type=int, default=6, help="images per hash (6)")
    p.add_argument("--out", help="PNG path (default RUN/figures/hash_grid.png)")

    p = add("encode", help="write the codings of a split to a .npy file")
    p.add_argument("run", help="run directory")
    p.add_argument("--split", default="test", choices=["train", "valid", "test"])
    p.add_argument("--out", help=".npy path (default RUN/codings-SPLIT.npy); labels, if any, "
                   "go beside it as *.labels.npy")

    p = add("map", help="2-D map of the codings coloured by class, with thumbnails "
            "(book figure 17-5)")
    p.add_argument("run", help="run directory")
    p.add_argument("--method", default="tsne", choices=["tsne", "pca", "umap"],
                   help="tsne (default), pca, or umap (needs umap-learn)")
    p.add_argument("--split", default="valid", choices=["train", "valid", "test"])
    p.add_argument("--n", type=int, default=5000, help="items mapped, a seeded sample "
                   "(default 5000, the book's whole validation set)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="PNG path (default RUN/figures/latent_map_METHOD_SPLIT.png)")

    p = add("probe", help="linear-probe and kNN accuracy of the codings (fit on train, "
            "scored on test)")
    p.add_argument("run", help="run directory")
    p.add_argument("--k", type=int, default=5, help="neighbours of the kNN vote (5)")
    p.add_argument("--limit", type=int, help="fit on a seeded sample of this many train "
                   "items (default: all)")

    p = add("search", help="nearest items of a database split to a query image, by codings "
            "(or binary hashes), with a figure")
    p.add_argument("run", help="run directory")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--query", metavar="IMG", help="query image file")
    group.add_argument("--index", type=int, default=0, help="query item of --split (0)")
    p.add_argument("--split", default="test", choices=["train", "valid", "test"],
                   help="split of the --index query (test)")
    p.add_argument("--db", default="train", choices=["train", "valid", "test"],
                   help="split searched (train)")
    p.add_argument("--k", type=int, default=10, help="neighbours returned (10)")
    p.add_argument("--metric", default="euclidean", choices=["euclidean", "cosine", "hamming"],
                   help="distance between codings; hamming = binary hashes (hashing_ae)")
    p.add_argument("--precision", type=int, metavar="N", help="also measure the share of "
                   "same-class neighbours over N seeded --split queries")
    p.add_argument("--out", help="PNG path (default RUN/figures/search.png)")

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
    p.add_argument("--split", default="valid", choices=["valid", "test"],
                   help="split the accuracies are measured on (valid)")
    p.add_argument("--device", default="cpu", help="auto | cpu | cuda | mps (cpu)")


def _add_generative_commands(add) -> None:
    """generate, interpolate."""
    p = add("generate", help="sample new images from a generative run (vae, gan, dcgan)")
    p.add_argument("run", help="run directory")
    p.add_argument("--n", type=int, default=64, help="number of images (64)")
    p.add_argument("--label", type=int, help="class of every sample (conditional GANs)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (0)")
    p.add_argument("--out", help="PNG path (default RUN/figures/generated.png)")
    p.add_argument("--npy", help="also write the images (N, C, H, W) in [0, 1] to this .npy")

    p = add("interpolate", help="decoded paths between latent points: lerp/slerp between "
            "real images (or prior samples), the book's grid resize, per-dimension sweeps")
    p.add_argument("run", help="run directory")
    p.add_argument("--method", default="lerp", choices=["lerp", "slerp", "grid", "traverse"])
    p.add_argument("--steps", type=int, default=8, help="images per path (8)")
    p.add_argument("--pairs", type=int, default=4, help="paths, one per row (4)")
    p.add_argument("--split", default="valid", choices=["train", "valid", "test"],
                   help="where the real end points come from (valid)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="PNG path (default RUN/figures/interpolation_METHOD.png)")


def _version() -> str:
    from latentforge import __version__

    return f"latentforge {__version__}"


def cmd_models(args) -> int:
    from latentforge.registry import get_spec, names

    for name in names():
        spec = get_spec(name)
        print(f"{name:14s} {spec.summary}  [recipes: {', '.join(spec.recipes)}]")
    return 0


def cmd_config(args) -> int:
    from latentforge.config import build_config, describe

    print(describe(build_config(args.model, args.recipe, args.config, args.overrides)))
    return 0


def cmd_train(args) -> int:
    from latentforge import api
    from latentforge.viz.run_figures import write_figures

    overrides = list(args.overrides)
    for flag, key in ((args.epochs, "train.epochs"), (args.data, "data.source"),
                      (args.device, "train.device")):
        if flag is not None:
            overrides.append(f"{key}={json.dumps(flag)}")
    if args.no_progress:
        overrides.append("train.progress=false")
    if args.tensorboard:
        overrides.append("train.tensorboard=true")
    from latentforge import rundir

    name = f"{args.model}-{args.recipe}" if args.name is None else args.name
    run_dir = Path(args.runs_dir) / rundir.check_name(name)
    if args.resume:
        if args.config:
            raise LatentforgeError("--config cannot be combined with --resume; change values "
                                   "of a resumed run with --set section.key=value.")
        cfg = api.read_config(run_dir)
        if cfg.model_name != args.model:
            raise LatentforgeError(f"'{run_dir}' is a {cfg.model_name} run, not {args.model}.")
        done = rundir.checkpoint_epoch(run_dir)
        run = api.train(args.model, overrides=overrides, run_dir=run_dir, resume=True)
        if done >= run.config.train.epochs:
            print(f"{run_dir} is already complete ({done} of {run.config.train.epochs} "
                  "epochs); nothing to train. Train longer with --epochs N.")
            return 0
    else:
        from latentforge.config import build_config

        cfg = build_config(args.model, args.recipe, args.config, overrides)
        run = api.train(cfg, run_dir=run_dir, overwrite=args.overwrite)
    write_figures(run)
    _print_metrics(run.history[-1] if run.history else {})
    print(f"run saved in {run_dir} ({_count(run_dir / 'figures', '*.png', 'figure')} in "
          f"{run_dir / 'figures'}; report {run.report().name})")
    return 0


def cmd_evaluate(args) -> int:
    from latentforge import api
    from latentforge.evaluation.progress import phases
    from latentforge.io import atomic_write_text

    if args.samples < 0 or args.k < 0:
        raise LatentforgeError("--samples and --k must be >= 0")
    run = api.load_run(args.run)
    results = {}
    with phases("evaluate", [f"{split} losses" for split in args.split]) as phase:
        for split in args.split:
            phase(f"{split} losses")
            results[split] = run.evaluate(split)
    keys = sorted({k for r in results.values() for k in r})
    print(f"{'split':8s}" + "".join(f"{k:>18s}" for k in keys))
    for split, res in results.items():
        print(f"{split:8s}" + "".join(f"{res.get(k, float('nan')):18.4f}" for k in keys))
    results.update(_extra_evaluations(run, args))
    atomic_write_text(Path(args.run) / "evaluation.json", json.dumps(results, indent=2) + "\n")
    return 0


def _extra_evaluations(run, args) -> dict:
    """Likelihood (VAEs) and sample quality (generative models), printed and returned."""
    out = {}
    if "posterior" in run.model.capabilities() and args.k:
        from latentforge.evaluation.likelihood import likelihood_report
        from latentforge.evaluation.progress import phases

        with phases("evaluate", ["test likelihood"]) as phase:
            phase(f"test likelihood (k={args.k})")
            out["likelihood"] = likelihood_report(run, "test", k=args.k)
        print(f"test likelihood (nats per image, k={args.k}):")
        _print_metrics(out["likelihood"])
    if "generate" in run.model.capabilities() and args.samples:
        from latentforge.evaluation.sample_quality import SOURCES, sample_quality

        if run.config.data.source in SOURCES:
            out["samples"] = sample_quality(run, args.samples)
            print(f"{args.samples} samples against the test split (shipped feature network):")
            _print_metrics({k: v for k, v in out["samples"].items() if k != "class_shares"})
            shares = " ".join(f"{v:.3f}" for v in out["samples"]["class_shares"])
            print(f"  {'class_shares':22s} {shares}")
        else:
            print("sample metrics skipped: the shipped feature network is for Fashion-MNIST")
    return out


def cmd_reconstruct(args) -> int:
    from latentforge import api
    from latentforge.evaluation.capabilities import can
    from latentforge.viz.run_figures import reconstruction_csv, reconstruction_pngs

    if args.n < 1:
        raise LatentforgeError(f"--n must be at least 1, got {args.n}")
    run = api.load_run(args.run)
    _require(run, "reconstruct", "reconstruct")
    images = can(run.model, "images")
    write, suffix = (reconstruction_pngs, ".png") if images else (reconstruction_csv, ".csv")
    if args.out and Path(args.out).suffix.lower() != suffix:
        kind = "images" if images else "table rows, written as a CSV"
        raise LatentforgeError(f"--out must end in {suffix} for this run ({kind}), got "
                               f"'{args.out}'")
    print(f"wrote {write(run, args.n, args.split, Path(args.out) if args.out else None)}")
    return 0


def cmd_encode(args) -> int:
    import torch

    from latentforge import api

    run = api.load_run(args.run)
    _require(run, "encode", "encode")
    data = run.split(args.split)
    codings = run.encode(data.batch(torch.arange(len(data)))).numpy()
    out = Path(args.out) if args.out else Path(args.run) / f"codings-{args.split}.npy"
    if out.suffix != ".npy":
        raise LatentforgeError(f"--out must end in .npy, got '{out}'")
    _save_npy(out, codings)
    if data.y is not None:
        _save_npy(out.with_suffix(".labels.npy"), data.y.numpy())
    print(f"wrote {out}: {codings.shape[0]} codings of size {codings.shape[1]}")
    return 0


def cmd_greedy(args) -> int:
    from latentforge.training.greedy import GreedyRecipe, train_greedy

    overrides = list(args.overrides)
    if args.data:
        overrides.append(f"data.source={json.dumps(args.data)}")
    if args.no_progress:
        overrides.append("train.progress=false")
    recipe = GreedyRecipe(hidden=tuple(args.hidden), epochs=args.epochs,
                          finetune_epochs=args.finetune_epochs, overrides=overrides)
    from latentforge.rundir import check_name

    root = Path(args.runs_dir) / check_name(args.name)
    summary = train_greedy(root, recipe, overwrite=args.overwrite)
    print(f"{'phase':8s}{'val_loss':>12s}{'val_rounded_accuracy':>22s}")
    for phase, rec in summary.items():
        acc = rec.get("val_rounded_accuracy")
        print(f"{phase:8s}{rec.get('val_loss', float('nan')):12.4f}"
              f"{'-' if acc is None else f'{acc:.4f}':>22s}")
    print(f"phases in {root}; the fine-tuned model is {root / 'stack'}")
    return 0


def cmd_hashes(args) -> int:
    from latentforge import api
    from latentforge.evaluation.capabilities import can
    from latentforge.evaluation.hashing import hash_table
    from latentforge.viz.run_figures import codings_of, hash_grid_png

    if args.top < 1 or args.per_hash < 1:
        raise LatentforgeError("--top and --per-hash must be at least 1")
    run = api.load_run(args.run)
    _require(run, "hash", "hashes")
    if args.out:
        _require(run, "images", "hashes --out")
    codes, _, labels = codings_of(run, args.split)
    _print_metrics(hash_table(codes, labels))
    if not can(run.model, "images"):
        print("no hash grid: the run's items are table rows, not images")
        return 0
    path = hash_grid_png(run, args.split, args.top, args.per_hash,
                         Path(args.out) if args.out else None)
    print(f"wrote {path}")
    return 0


def cmd_map(args) -> int:
    from latentforge import api
    from latentforge.viz.maps import latent_map_png

    run = api.load_run(args.run)
    _require(run, "encode", "map")
    path = latent_map_png(run, args.method, args.split, args.n,
                          Path(args.out) if args.out else None, args.seed)
    print(f"wrote {path}")
    return 0


def cmd_probe(args) -> int:
    from latentforge import api
    from latentforge.evaluation.probes import format_probe_table, probe_run
    from latentforge.io import atomic_write_text

    run = api.load_run(args.run)
    result = probe_run(run, n_train=args.limit, k=args.k)
    print(format_probe_table(result, run.config.model_name))
    atomic_write_text(Path(args.run) / "probes.json", json.dumps(result, indent=2) + "\n")
    return 0


MAX_GRID = 256  # samples drawn in generate's figure (a grid of millions would not fit)


def cmd_generate(args) -> int:
    from latentforge import api
    from latentforge.evaluation.capabilities import can
    from latentforge.generation.sampling import draw_samples
    from latentforge.viz.figures import image_grid, save_figure

    if args.n < 1:
        raise LatentforgeError(f"--n must be at least 1, got {args.n}")
    for path, suffix in ((args.out, ".png"), (args.npy, ".npy")):
        if path and Path(path).suffix.lower() != suffix:
            raise LatentforgeError(f"'{path}' must end in {suffix}")
    run = api.load_run(args.run)
    _require(run, "generate", "generate")
    figure = can(run.model, "images")
    if not figure and (args.out or not args.npy):
        raise LatentforgeError(f"'{args.run}' was trained on table rows of shape "
                               f"{tuple(run.model.sample_shape)}, not images: generate them "
                               "with --npy FILE.npy (and no --out figure).")
    if args.label is not None:
        _check_label(run, args.label)
    images = draw_samples(run.model, args.n, args.seed, args.label).numpy()
    out = Path(args.out) if args.out else Path(args.run) / "figures" / "generated.png"
    if figure:
        shown = images[:MAX_GRID]
        print(f"wrote {save_figure(image_grid(shown, n_cols=min(8, len(shown))), out)}"
              + (f" (the first {MAX_GRID} of {args.n} samples; --npy keeps them all)"
                 if args.n > MAX_GRID else ""))
    if args.npy:
        _save_npy(Path(args.npy), images)
        print(f"wrote {args.npy}: {images.shape[0]} samples of shape {images.shape[1:]}")
    return 0


def _check_label(run, label: int) -> None:
    """Refuse a --label the run's model cannot honour; suggest model.conditional=true only
    to models whose config has that option."""
    from latentforge.registry import get_spec, names

    cfg = run.model.cfg
    if not getattr(cfg, "conditional", False):
        hint = ("train one with --set model.conditional=true" if _has_option(type(cfg))
                else "models with a model.conditional option: " + ", ".join(
                    n for n in names() if _has_option(get_spec(n).config_cls)))
        raise LatentforgeError(f"--label needs a conditional model; '{run.path}' is an "
                               f"unconditional {run.config.model_name} ({hint}).")
    if not 0 <= label < int(cfg.n_classes):
        raise LatentforgeError(f"--label must be in [0, {int(cfg.n_classes) - 1}], got {label}")


def _has_option(config_cls, option: str = "conditional") -> bool:
    import dataclasses

    return dataclasses.is_dataclass(config_cls) and \
        option in {f.name for f in dataclasses.fields(config_cls)}


def _save_npy(path: Path, array) -> None:
    import numpy as np

    from latentforge.io import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)


def cmd_interpolate(args) -> int:
    from latentforge import api
    from latentforge.viz.interpolation import interpolation_png

    run = api.load_run(args.run)
    path = interpolation_png(run, args.method, args.steps, args.pairs, args.split, args.seed,
                             Path(args.out) if args.out else None)
    print(f"wrote {path}")
    return 0


def cmd_search(args) -> int:
    import torch

    from latentforge import api
    from latentforge.evaluation.capabilities import can
    from latentforge.evaluation.search import nearest, retrieval_precision, split_codings
    from latentforge.viz.figures import image_grid, save_figure

    out = Path(args.out) if args.out else Path(args.run) / "figures" / "search.png"
    if out.suffix.lower() != ".png":
        raise LatentforgeError(f"--out must end in .png, got '{out}'")
    run = api.load_run(args.run)
    _require(run, "hash" if args.metric == "hamming" else "encode",
             f"search --metric {args.metric}")
    images = can(run.model, "images")
    if args.out and not images:
        _require(run, "images", "search --out")
    x, name = _query_image(run, args)
    db = run.split(args.db)
    db_codes = split_codings(run, args.db)
    idx, dist = nearest(run.encode(x[None]), db_codes, args.k, args.metric)
    idx, dist = idx[0], dist[0]
    print(f"query: {name}; {args.k} nearest of {len(db)} {args.db} items ({args.metric})")
    print(f"{'rank':>4s} {'index':>7s} {'distance':>10s}  class")
    for rank, (i, d) in enumerate(zip(idx.tolist(), dist.tolist()), 1):
        print(f"{rank:4d} {i:7d} {d:10.4f}  {_class_name(db, i)}")
    if images:
        grid = torch.cat([x[None], db.batch(idx)]).numpy()
        titles = ["query"] + [_class_name(db, i) for i in idx.tolist()]
        print(f"wrote {save_figure(image_grid(grid, n_cols=len(grid), titles=titles), out)}")
    else:
        print("no figure: the run's items are table rows, not images")
    if args.precision:
        result = retrieval_precision(run, args.k, args.precision, args.split, args.db,
                                     args.metric, db=db_codes)
        print(f"same-class share of the {args.k} nearest over {result['n_queries']} "
              f"{args.split} queries: {result['precision_at_k']:.4f}")
    return 0


def _class_name(data, i: int) -> str:
    """Item i's class name (or number; "-" without labels)."""
    if data.y is None:
        return "-"
    return str(data.classes[data.y[i]] if data.classes else int(data.y[i]))


def _query_image(run, args):
    """(query image (*sample_shape) float in [0, 1], its description)."""
    import torch

    if args.query:
        from latentforge.data.folders import read_image

        _require(run, "images", "search --query IMG")
        x = torch.from_numpy(read_image(Path(args.query), run.model.sample_shape).copy())
        return x.float() / 255, args.query
    data = run.split(args.split)
    if not 0 <= args.index < len(data):
        raise LatentforgeError(f"--index must be in [0, {len(data) - 1}], got {args.index}")
    return data.batch(torch.tensor([args.index]))[0], f"{args.split} item {args.index}"


def cmd_pretrain(args) -> int:
    from latentforge import api
    from latentforge.evaluation.pretrain import PretrainRecipe, pretrain_classifier
    from latentforge.io import atomic_write_text

    recipe = PretrainRecipe(epochs=args.epochs, frozen_epochs=args.frozen_epochs,
                            lr=args.lr, finetune_lr=args.finetune_lr)
    run = api.load_run(args.run)
    _require(run, "encode", "pretrain-classifier")
    result = pretrain_classifier(run, args.labels, recipe, args.seeds, args.split, args.device)
    print(result.table())
    out = Path(args.run) / f"pretrain-{args.labels}-{args.split}.json"
    atomic_write_text(out, json.dumps(result.to_dict(), indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def _require(run, capability: str, command: str) -> None:
    """One `error:` line unless the run's model has `capability` (evaluation.capabilities)."""
    from latentforge.evaluation.capabilities import require

    require(run, capability, command)


def _count(folder: Path, pattern: str, noun: str) -> str:
    """"N noun(s)": the files matching `pattern` under `folder`, subfolders included."""
    n = sum(1 for _ in folder.rglob(pattern)) if folder.is_dir() else 0
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _print_metrics(record: dict) -> None:
    for key, value in record.items():
        print(f"  {key:22s} {value:.4f}" if isinstance(value, float) else f"  {key:22s} {value}")


COMMANDS = {"models": cmd_models, "config": cmd_config, "train": cmd_train,
            "evaluate": cmd_evaluate, "reconstruct": cmd_reconstruct, "encode": cmd_encode,
            "greedy": cmd_greedy, "hashes": cmd_hashes, "map": cmd_map, "probe": cmd_probe,
            "pretrain-classifier": cmd_pretrain, "generate": cmd_generate,
            "interpolate": cmd_interpolate, "search": cmd_search, **USE_COMMANDS}


# What Ctrl-C leaves, per training command; the others write nothing partial (every write
# is atomic) and just say "interrupted".
INTERRUPTED = {
    "train": "interrupted: the last saved checkpoint is kept; continue with --resume",
    "greedy": "interrupted: finished phases and the last saved checkpoint are kept; run the "
              "same command again to continue (--overwrite starts over)",
    "chapter": "interrupted: finished sections and the last saved checkpoint are kept; run "
               "the same command again to continue (--overwrite starts over)",
    "benchmark": "interrupted: the finished runs are kept under --out; the benchmark starts "
                 "over when run again"}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return COMMANDS[args.command](args)
    except LatentforgeError as exc:  # 2 bad input, 3 diverged, 4 resources, 5 busy run
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into a reader that stopped early (e.g. head)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # the machine said no (permissions, a full disk, a bad path)
        from latentforge.errors import os_error

        error = os_error(exc)
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(INTERRUPTED.get(args.command, "interrupted"), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
