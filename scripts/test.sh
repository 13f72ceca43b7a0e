#!/usr/bin/env bash
# Set up, then run the whole test suite (unit, conformance, CLI and real Fashion-MNIST
# checks). Extra arguments go to pytest (e.g. scripts/test.sh -m "not slow").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
