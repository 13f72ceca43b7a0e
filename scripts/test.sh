#!/usr/bin/env bash
# Set up, then run the whole test suite (unit, conformance, CLI and real Fashion-MNIST
# checks). Extra arguments go to pytest (e.g. scripts/test.sh -m "not slow").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
# One pytest worker per CPU (pytest-xdist), each test file on one worker (its fixtures
# built once), one torch thread per worker unless OMP_NUM_THREADS says otherwise;
# LATENTFORGE_TEST_WORKERS=0 runs everything in this process.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec .venv/bin/python -m pytest -q -p no:cacheprovider \
  -n "${LATENTFORGE_TEST_WORKERS:-auto}" --dist loadfile "$@"
