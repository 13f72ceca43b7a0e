#!/usr/bin/env bash
# Prepare a fresh Debian/Ubuntu machine (Python 3.10+): Fashion-MNIST, a venv in .venv,
# torch (CPU wheel) and latentforge with its test extras. Safe to run again: it skips what
# is already done. Sourced by scripts/main.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY=${PYTHON:-python3}
VENV=${LATENTFORGE_VENV:-.venv}
TORCH_SPEC=${LATENTFORGE_TORCH:-torch==2.13.0}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
  echo "error: latentforge needs Python 3.10 or newer ($PY is $("$PY" --version 2>&1))" >&2; exit 2; }

# Fashion-MNIST: Debian's package puts it in /usr/share/datasets/fashion-mnist. Without apt
# (or root), latentforge downloads it on first use with checksum verification.
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
  echo "setup: installing Fashion-MNIST (apt package dataset-fashion-mnist)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
    || { as_root apt-get update -q >/dev/null 2>&1 && \
         as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist >/dev/null; } \
    || echo "setup: could not install dataset-fashion-mnist; latentforge will download the data"
fi

# A C++ compiler (train.compile's inductor backend on the CPU) and Chromium (the web
# explorer's browser test, driven by Playwright): Debian's packages, where apt exists.
# Without them those tests skip with their reason; nothing else needs them.
if command -v apt-get >/dev/null; then
  need=""
  command -v g++ >/dev/null || need="$need g++"
  command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need="$need chromium"
  if [ -n "$need" ]; then
    echo "setup: installing$need (apt)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/dev/null 2>&1 \
      || { as_root apt-get update -q >/dev/null 2>&1 && \
           as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/dev/null 2>&1; } \
      || echo "setup: could not install$need; the tests that need them will skip"
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PY" -m venv "$VENV" 2>/dev/null || {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null
    "$PY" -m venv "$VENV"; }
fi

stamp="$VENV/.latentforge-installed"
want="$TORCH_SPEC $(sha256sum pyproject.toml | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing $TORCH_SPEC and latentforge[dev] into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$TORCH_SPEC"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[dev]"
  echo "$want" > "$stamp"
fi
