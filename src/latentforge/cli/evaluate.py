"""`latentforge evaluate` (what applies to the run: `tasks.evaluate_run`) and `report`
(a self-contained report.html)."""
from __future__ import annotations

from pathlib import Path

from latentforge.cli.common import SPLITS, print_metrics
from latentforge.errors import LatentforgeError


def add_evaluate(add) -> None:
    p = add("evaluate", help="metrics that fit the run: losses and rounded accuracy; for "
            "VAEs the test ELBO and IWAE NLL; for generative models FID/KID/precision/"
            "recall/class coverage of samples on a feature network (optionally Inception "
            "FID)")
    p.add_argument("run", help="run directory")
    p.add_argument("--split", nargs="+", default=["valid", "test"], choices=SPLITS)
    p.add_argument("--samples", type=int, default=10_000, help="samples for the sample "
                   "metrics of generative models (10000; 0 skips them)")
    p.add_argument("--k", type=int, default=50, help="importance samples of the VAE's "
                   "IWAE NLL (50; 0 skips the likelihood)")
    p.add_argument("--feature-net", metavar="FILE", help="feature network of the sample "
                   "metrics, made by 'latentforge featurenet train --data SRC' for the run's "
                   "data (default: the shipped Fashion-MNIST one for 1x28x28 samples; other "
                   "samples skip the metrics)")
    p.add_argument("--inception", action="store_true", help="also Inception FID of the "
                   "samples against the test images (needs: pip install "
                   "'latentforge[inception]' and torch-fidelity's Inception weights; slow on "
                   "a CPU)")


def cmd_evaluate(args) -> int:
    from latentforge import api
    from latentforge.tasks import evaluate_run, write_evaluation

    if args.samples < 0 or args.k < 0:
        raise LatentforgeError("--samples and --k must be >= 0")
    run = api.load_run(args.run)
    result = evaluate_run(run, args.split, args.samples, args.k, args.feature_net,
                          args.inception)
    _print_losses(result.losses)
    if result.likelihood is not None:
        print(f"test likelihood (nats per image, k={args.k}):")
        print_metrics(result.likelihood)
    if result.samples is not None:
        _print_samples(result.samples, args.samples)
    if result.samples_skipped:
        print(f"sample metrics skipped: {result.samples_skipped}")
    if result.inception is not None:
        print(f"Inception FID of {args.samples} samples against the test split:")
        print_metrics(result.inception)
    write_evaluation(run, result, Path(args.run) / "evaluation.json")
    return 0


def _print_samples(samples: dict, n: int) -> None:
    net = samples.get("feature_net") or "the shipped feature network"
    print(f"{n} samples against the test split (feature network {net}):")
    print_metrics({k: v for k, v in samples.items()
                   if k not in ("class_shares", "feature_net")})
    shares = " ".join(f"{v:.3f}" for v in samples["class_shares"])
    print(f"  {'class_shares':22s} {shares}")


def _print_losses(losses: dict) -> None:
    keys = sorted({k for r in losses.values() for k in r})
    print(f"{'split':8s}" + "".join(f"{k:>18s}" for k in keys))
    for split, res in losses.items():
        print(f"{split:8s}" + "".join(f"{res.get(k, float('nan')):18.4f}" for k in keys))


def add_report(add) -> None:
    p = add("report", help="write a self-contained report.html of a run: config, learning "
            "curves, metrics, every figure (embedded)")
    p.add_argument("run", help="run directory")
    p.add_argument("--out", help="HTML path (default RUN/report.html)")


def cmd_report(args) -> int:
    from latentforge.viz.report import write_report

    if args.out and Path(args.out).suffix.lower() not in (".html", ".htm"):
        raise LatentforgeError(f"--out must end in .html, got '{args.out}'")
    print(f"wrote {write_report(Path(args.run), args.out)}")
    return 0


COMMANDS = {"evaluate": cmd_evaluate, "report": cmd_report}
