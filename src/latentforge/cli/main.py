"""The `latentforge` parser (every command's parser, from its module, in help order) and
main(): logging, dispatch through COMMANDS, errors -> exit codes (`latentforge.errors`: 2
bad input, 3 training diverged, 4 disk full or not enough memory, 5 run in use; 130 on
Ctrl-C, with what it left; 0 when the output pipe closes early).
"""
from __future__ import annotations

import argparse
import functools
import logging
import os
import sys

from latentforge.cli import anomalies, autoencoder_tools, chapter, evaluate, export, featurenet
from latentforge.cli import generative, growth, serve
from latentforge.cli import rank_errors, representation, train
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
  latentforge top-activations runs/stacked_ae-book --units 8
  latentforge probe runs/stacked_ae-book
  latentforge pretrain-classifier runs/stacked_ae-fast --labels 500
  latentforge train dcgan --recipe fast
  latentforge generate runs/dcgan-fast --n 64
  latentforge interpolate runs/vae-book --method slerp
  latentforge arithmetic runs/dcgan-fast sneaker - "ankle boot" + sandal
  latentforge generate runs/stylegan-fast --truncation 0.7
  latentforge style-mix runs/stylegan-fast       # coarse/middle/fine styles of B into A
  latentforge evaluate runs/dcgan-fast          # FID, KID, precision/recall, coverage
  latentforge growth runs/progan-fast           # progan's samples per growth phase
  latentforge featurenet train --data cifar10   # a feature network for other data
  latentforge train conv_ae --recipe fast --set data.train_classes=[0] --name tshirts
  latentforge anomalies runs/tshirts --score knn
  latentforge benchmark one-class --model conv_ae --seeds 0 1 2
  latentforge chapter --quick                   # the whole chapter in < 10 min
  latentforge serve runs                        # HTTP API + web explorer on 127.0.0.1:8000
  latentforge export runs/vae-book --format onnx  # encoder/decoder/generator as ONNX
"""

# Every command's parser adder, in the order `latentforge --help` lists them.
ADDERS = (train.add_models, train.add_config, train.add_train, evaluate.add_evaluate,
          autoencoder_tools.add_reconstruct, autoencoder_tools.add_greedy,
          autoencoder_tools.add_hashes, autoencoder_tools.add_encode,
          representation.add_map, representation.add_top_activations,
          representation.add_probe, representation.add_search,
          representation.add_pretrain, generative.add_generate, generative.add_interpolate,
          generative.add_arithmetic, generative.add_style_mix, growth.add_growth, export.add_export,
          anomalies.add_anomalies, anomalies.add_benchmark, featurenet.add_featurenet,
          evaluate.add_report,
          chapter.add_chapter, serve.add_serve)
COMMANDS = {**train.COMMANDS, **evaluate.COMMANDS, **autoencoder_tools.COMMANDS,
            **representation.COMMANDS, **generative.COMMANDS, **anomalies.COMMANDS,
            **chapter.COMMANDS, **featurenet.COMMANDS, **growth.COMMANDS, **export.COMMANDS,
            **serve.COMMANDS}


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
    for adder in ADDERS:
        adder(add)
    return parser


def _version() -> str:
    from latentforge import __version__

    return f"latentforge {__version__}"


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
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for train --nproc
    quiet = args.quiet or os.environ.get("RANK", "0") != "0"  # torchrun: rank 0 logs
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return COMMANDS[args.command](args)
    except LatentforgeError as exc:  # 2 bad input, 3 diverged, 4 resources, 5 busy run
        if not rank_errors.record(exc):  # under train --nproc the launcher prints it
            print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into a reader that stopped early (e.g. head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # the machine said no (permissions, a full disk, a bad path)
        from latentforge.errors import os_error

        error = os_error(exc)
        if not rank_errors.record(error):
            print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        if not rank_errors.launched():  # under train --nproc the launcher says it once
            print(INTERRUPTED.get(args.command, "interrupted"), file=sys.stderr)
        return 130

