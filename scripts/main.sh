#!/usr/bin/env bash
# The main job: set up, train the stacked autoencoder with the book's recipe on
# Fashion-MNIST, evaluate it on valid/test, probe its codings (linear + kNN) and write its
# figures (learning curves, reconstructions, t-SNE map) and its report.html. Extra
# arguments go to `latentforge train` (e.g. scripts/main.sh --epochs 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
LF=.venv/bin/latentforge
$LF train stacked_ae --recipe book --overwrite "$@"
$LF evaluate runs/stacked_ae-book
$LF reconstruct runs/stacked_ae-book --n 8
$LF probe runs/stacked_ae-book
$LF map runs/stacked_ae-book
$LF report runs/stacked_ae-book
echo "done: see runs/stacked_ae-book/report.html (config, curves, metrics, probes, figures)"
