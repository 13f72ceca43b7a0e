"""`latentforge models`, `config` and `train`: the registry, resolved configs, and
training (or resuming) a run with its standard figures and report."""
from __future__ import annotations

import json
from pathlib import Path

from latentforge.cli.common import add_config_args, print_metrics
from latentforge.cli.rank_errors import peers_checked
from latentforge.errors import LatentforgeError


def add_models(add) -> None:
    add("models", help="list registered models and their recipes")


def cmd_models(args) -> int:
    from latentforge.registry import get_spec, names

    for name in names():
        spec = get_spec(name)
        print(f"{name:14s} {spec.summary}  [recipes: {', '.join(spec.recipes)}]")
    return 0


def add_config(add) -> None:
    p = add("config", help="print the resolved config of a model and recipe")
    add_config_args(p)


def cmd_config(args) -> int:
    from latentforge.config import build_config, describe

    print(describe(build_config(args.model, args.recipe, args.config, args.overrides)))
    return 0


def add_train(add) -> None:
    p = add("train", help="train a model into a run directory")
    add_config_args(p)
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
    p.add_argument("--nproc", type=int, metavar="N", help="train in N processes on this "
                   "machine: this process runs torchrun, as `torchrun --standalone "
                   "--nproc-per-node N -m latentforge train ...` would (train.batch_size "
                   "stays the global batch; an error in the processes comes back as one "
                   "error line with its exit code; see README, Scaling out)")


def _train_overrides(args) -> list[str]:
    """--set values plus the shortcut flags, as overrides."""
    overrides = list(args.overrides)
    for flag, key in ((args.epochs, "train.epochs"), (args.data, "data.source"),
                      (args.device, "train.device")):
        if flag is not None:
            overrides.append(f"{key}={json.dumps(flag)}")
    if args.no_progress:
        overrides.append("train.progress=false")
    if args.tensorboard:
        overrides.append("train.tensorboard=true")
    return overrides


def cmd_train(args) -> int:
    from latentforge import api, rundir
    from latentforge.config import apply_override, build_config
    from latentforge.training.distributed import World

    world = World.from_env()
    overrides = _train_overrides(args)
    name = f"{args.model}-{args.recipe}" if args.name is None else args.name
    run_dir = Path(args.runs_dir) / rundir.check_name(name)
    if args.resume:
        if args.config:
            raise LatentforgeError("--config cannot be combined with --resume; change values "
                                   "of a resumed run with --set section.key=value.")
        cfg = api.read_config(run_dir)
        if cfg.model_name != args.model:
            raise LatentforgeError(f"'{run_dir}' is a {cfg.model_name} run, not {args.model}.")
        for item in overrides:
            apply_override(cfg, item)
    else:
        cfg = build_config(args.model, args.recipe, args.config, overrides)
    if args.nproc is not None:
        return _launch(args.nproc, args.argv, world, cfg)
    with peers_checked(world):  # under torchrun: another rank's error stops this one
        return _train(args, cfg, overrides, run_dir, world)


def _train(args, cfg, overrides: list[str], run_dir: Path, world) -> int:
    """Train (or resume) the run; rank 0 writes its figures and prints the summary."""
    from latentforge import api, rundir
    from latentforge.viz.run_figures import write_figures

    if args.resume:
        done = rundir.checkpoint_epoch(run_dir)
        run = api.train(args.model, overrides=overrides, run_dir=run_dir, resume=True)
        if done >= run.config.train.epochs:
            if world.is_main:
                print(f"{run_dir} is already complete ({done} of "
                      f"{run.config.train.epochs} epochs); nothing to train. Train longer "
                      "with --epochs N.")
            return 0
    else:
        run = api.train(cfg, run_dir=run_dir, overwrite=args.overwrite)
    if not world.is_main:  # rank 0 writes the figures and prints
        return 0
    write_figures(run)
    print_metrics(run.history[-1] if run.history else {})
    print(f"run saved in {run_dir} ({_count(run_dir / 'figures', '*.png', 'figure')} in "
          f"{run_dir / 'figures'}; report {run.report().name})")
    return 0


def _launch(nproc: int, argv: list[str], world, cfg) -> int:
    """`train ... --nproc N`: the same command in N processes, under torchrun run in this
    process (cli/rank_errors.py: a rank's error comes back as one line and its exit
    code), once the config (validated, its global batch split over N) is known to be
    usable."""
    from latentforge.cli.rank_errors import launch
    from latentforge.training.distributed import World, check_batch

    if world.distributed:
        raise LatentforgeError("--nproc starts torchrun itself; under torchrun, leave it out.")
    if nproc < 1:
        raise LatentforgeError(f"--nproc must be at least 1, got {nproc}.")
    cfg.validate()
    check_batch(cfg.train.batch_size, World(0, nproc))
    rest = _without_nproc(argv)
    return launch(["--standalone", f"--nproc-per-node={nproc}", "-m", "latentforge", *rest])


def _without_nproc(argv: list[str]) -> list[str]:
    """argv without its --nproc N / --nproc=N."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def _count(folder: Path, pattern: str, noun: str) -> str:
    """"N noun(s)": the files matching `pattern` under `folder`, subfolders included."""
    n = sum(1 for _ in folder.rglob(pattern)) if folder.is_dir() else 0
    return f"{n} {noun}{'' if n == 1 else 's'}"


COMMANDS = {"models": cmd_models, "config": cmd_config, "train": cmd_train}
