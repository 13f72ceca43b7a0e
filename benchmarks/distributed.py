"""One process against N torchrun processes (gloo on CPU): seconds per epoch.

    python benchmarks/distributed.py                       # stacked_ae, conv_ae; 1 and 2
    python benchmarks/distributed.py --models dcgan --limit-train 6400 --nproc 1 2

Each row trains `latentforge train MODEL` (the book recipe, one epoch of Fashion-MNIST, or
--limit-train images of it) once in one plain process and once under `--nproc N`, every
process with --threads intra-op threads (default 1, so N processes use N cores), and
prints the epoch's training time from the run's metrics (time_s: the epoch with its
validation) and the speedup over the one-process run, in one run on this machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def epoch_seconds(model: str, nproc: int, threads: int, limit: int | None, work: Path) -> float:
    name = f"{model}-{nproc}"
    cmd = [sys.executable, "-m", "latentforge", "train", model, "-q", "--epochs", "1",
           "--runs-dir", str(work), "--name", name, "--no-progress",
           "--set", f"train.threads={threads}"]
    if limit:
        cmd += ["--set", f"data.limit_train={limit}"]
    if nproc > 1:
        cmd += ["--nproc", str(nproc)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    lines = (work / name / "metrics.jsonl").read_text().splitlines()
    return json.loads(lines[-1])["time_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["stacked_ae", "conv_ae"])
    parser.add_argument("--nproc", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--threads", type=int, default=1, help="threads per process")
    parser.add_argument("--limit-train", type=int, default=None)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, {args.threads} thread(s) per process, book recipes, "
          f"one epoch{f' of {args.limit_train} images' if args.limit_train else ''}\n")
    print("| model | processes | epoch (s) | speedup over 1 process |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            base = None
            for n in args.nproc:
                t = epoch_seconds(model, n, args.threads, args.limit_train, Path(tmp))
                base = base or (t if n == 1 else None)
                speedup = f"{base / t:.2f}x" if base else "-"
                print(f"| `{model}` | {n} | {t:.2f} | {speedup} |", flush=True)


if __name__ == "__main__":
    main()
