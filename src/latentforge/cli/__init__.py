"""The `latentforge` command line: each command's parser and handler side by side, the
handlers thin over `latentforge.tasks` (parse, call the task, print).

- main.py: build_parser(), main() (errors -> exit codes, Ctrl-C messages), COMMANDS
- train.py: models, config, train
- evaluate.py: evaluate, report
- autoencoder_tools.py: reconstruct, greedy, hashes, encode
- representation.py: map, probe, search, pretrain-classifier
- generative.py: generate, interpolate
- anomalies.py: anomalies, benchmark
- chapter.py: chapter
- common.py: what several commands share (split choices, metric printing)

Heavy libraries (torch, matplotlib, scikit-learn, numpy) are imported inside the
handlers, so ``latentforge --help`` is instant.
"""
from latentforge.cli.main import COMMANDS, INTERRUPTED, build_parser, main

__all__ = ["COMMANDS", "INTERRUPTED", "build_parser", "main"]
