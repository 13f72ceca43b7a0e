#!/usr/bin/env bash
# The main job: set up, train the stacked autoencoder with the book's recipe on
# Fashion-MNIST, evaluate it on valid/test, probe its codings (linear + kNN) and write its
# figures (learning curves, reconstructions, t-SNE map) and its report.html. Extra
# arguments go to `latentforge train` (e.g. scripts/main.sh --epochs 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
LF="${LATENTFORGE_VENV:-.venv}/bin/latentforge"
$LF train stacked_ae --recipe book --overwrite "$@"
# -q: train already logged where the data came from; the follow-ups print their results
$LF evaluate -q runs/stacked_ae-book
$LF reconstruct -q runs/stacked_ae-book --n 8
$LF probe -q runs/stacked_ae-book
$LF map -q runs/stacked_ae-book
$LF report -q runs/stacked_ae-book
echo "done: see runs/stacked_ae-book/report.html (config, curves, metrics, probes, figures)"
