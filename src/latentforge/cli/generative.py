"""`latentforge generate`, `interpolate`, `arithmetic` and `style-mix`: generative use of
a run over `latentforge.tasks` (generate.py, arithmetic.py, style_mix.py)."""
from __future__ import annotations

from pathlib import Path

from latentforge.cli.common import SPLITS, out_path
from latentforge.generation.paths import INTERPOLATIONS

SPACES = ("z", "w")  # generation.styles.SPACES, without importing torch


def add_generate(add) -> None:
    p = add("generate", help="sample new images from a generative run (a VAE or a GAN)")
    p.add_argument("run", help="run directory")
    p.add_argument("--n", type=int, default=64, help="number of images (64)")
    p.add_argument("--label", type=int, help="class of every sample (conditional GANs)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (0)")
    p.add_argument("--out", help="PNG path (default RUN/figures/generated.png)")
    p.add_argument("--npy", help="also write the images (N, C, H, W) in [0, 1] to this .npy")
    p.add_argument("--truncation", type=float, metavar="PSI", help="truncation trick "
                   "(stylegan): w = mean_w + PSI (w - mean_w); 1 none, 0 the mean image, "
                   "0.5-0.7 typical")


def cmd_generate(args) -> int:
    from latentforge import api
    from latentforge.errors import LatentforgeError
    from latentforge.evaluation.capabilities import can
    from latentforge.tasks import generate, samples_png, save_npy
    from latentforge.tasks.generate import MAX_GRID

    _check_generate_args(args)
    run = api.load_run(args.run)
    figure = can(run.model, "images")
    if not figure and (args.out or not args.npy) and can(run.model, "generate"):
        raise LatentforgeError(f"'{args.run}' was trained on table rows of shape "
                               f"{tuple(run.model.sample_shape)}, not images: generate them "
                               "with --npy FILE.npy (and no --out figure).")
    images = generate(run, args.n, args.seed, args.label, args.truncation)
    if figure:
        out = out_path(args.out) or Path(args.run) / "figures" / "generated.png"
        print(f"wrote {samples_png(run, images, out)}"
              + (f" (the first {MAX_GRID} of {args.n} samples; --npy keeps them all)"
                 if args.n > MAX_GRID else ""))
    if args.npy:
        save_npy(args.npy, images)
        print(f"wrote {args.npy}: {images.shape[0]} samples of shape {images.shape[1:]}")
    return 0


def _check_generate_args(args) -> None:
    from latentforge.errors import LatentforgeError

    if args.n < 1:
        raise LatentforgeError(f"--n must be at least 1, got {args.n}")
    for path, suffix in ((args.out, ".png"), (args.npy, ".npy")):
        if path and Path(path).suffix.lower() != suffix:
            raise LatentforgeError(f"'{path}' must end in {suffix}")


def add_interpolate(add) -> None:
    p = add("interpolate", help="decoded paths between latent points: lerp/slerp between "
            "real images (or prior samples), the book's grid resize, per-dimension sweeps")
    p.add_argument("run", help="run directory")
    p.add_argument("--method", default="lerp", choices=INTERPOLATIONS)
    p.add_argument("--steps", type=int, default=8, help="images per path (8)")
    p.add_argument("--pairs", type=int, default=4, help="paths, one per row (4)")
    p.add_argument("--split", default="valid", choices=SPLITS,
                   help="where the real end points come from (valid)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--space", default="z", choices=SPACES, help="z: codings or a "
                   "generator's input (default); w: a style model's intermediate latent "
                   "(stylegan)")
    p.add_argument("--out", help="PNG path (default RUN/figures/interpolation_METHOD.png; "
                   "interpolation_METHOD_w.png with --space w)")


def cmd_interpolate(args) -> int:
    from latentforge import api
    from latentforge.tasks import interpolation_figure

    run = api.load_run(args.run)
    path = interpolation_figure(run, args.method, args.steps, args.pairs, args.split,
                                args.seed, args.out, args.space)
    print(f"wrote {path}")
    return 0


def add_arithmetic(add) -> None:
    p = add("arithmetic", help="latent vector arithmetic: decode the mean coding of class A "
            "minus B plus C, with neighbours (the DCGAN figure of the chapter)")
    p.add_argument("run", help="run directory (an autoencoder, VAE or GAN)")
    p.add_argument("expression", nargs="+", metavar="TERM",
                   help='class names or indices joined by standalone + and -, e.g. '
                   'sneaker - "ankle boot" + sandal')
    p.add_argument("--n", type=int, default=2000, help="samples drawn (GANs, grouped by a "
                   "classifier, or by their labels when conditional) or --split items "
                   "encoded (autoencoders, grouped by their labels) (2000)")
    p.add_argument("--feature-net", metavar="FILE", help="classifier of an unconditional "
                   "GAN's samples, from 'latentforge featurenet train' (default: the shipped "
                   "Fashion-MNIST network, for 1x28x28 samples)")
    p.add_argument("--split", default="test", choices=SPLITS,
                   help="where an autoencoder's items come from (test)")
    p.add_argument("--label", type=int, help="class the result is decoded with (conditional "
                   "GANs; default: the first term's class)")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples or items and of "
                   "the neighbours (0)")
    p.add_argument("--out", help="PNG path (default RUN/figures/arithmetic.png)")


def cmd_arithmetic(args) -> int:
    from latentforge import api
    from latentforge.tasks.arithmetic import arithmetic_png, latent_arithmetic
    from latentforge.viz.figures import png_path

    out = png_path(args.out or Path(args.run) / "figures" / "arithmetic.png")
    run = api.load_run(args.run)
    result = latent_arithmetic(run, args.expression, args.n, args.seed, args.split,
                               args.label, args.feature_net)
    print(f"{result.expression} in {result.space} space; group sizes "
          + ", ".join(f"{t.name} {c}" for t, c in zip(result.terms, result.counts))
          + f" ({result.grouping})")
    print(f"wrote {arithmetic_png(result, out)}")
    return 0


def add_style_mix(add) -> None:
    p = add("style-mix", help="style mixing grid of a stylegan run (the StyleGAN paper's "
            "figure 3): B's coarse, middle or fine styles copied into A's")
    p.add_argument("run", help="run directory of a stylegan")
    p.add_argument("--rows", type=int, default=3, help="B sources, rows per group (3)")
    p.add_argument("--cols", type=int, default=5, help="A sources, columns (5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sources' codings (0)")
    p.add_argument("--out", help="PNG path (default RUN/figures/style_mix.png)")


def cmd_style_mix(args) -> int:
    from latentforge import api
    from latentforge.tasks.style_mix import style_mix, style_mix_png
    from latentforge.viz.figures import png_path

    out = png_path(args.out or Path(args.run) / "figures" / "style_mix.png")
    run = api.load_run(args.run)
    result = style_mix(run, args.rows, args.cols, args.seed)
    print("style groups: " + ", ".join(f"{g.label}: style inputs "
                                       f"{', '.join(map(str, g.layers))}"
                                       for g in result.groups))
    print(f"wrote {style_mix_png(result, out)}")
    return 0


COMMANDS = {"generate": cmd_generate, "interpolate": cmd_interpolate,
            "arithmetic": cmd_arithmetic, "style-mix": cmd_style_mix}
