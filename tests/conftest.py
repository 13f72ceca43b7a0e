"""Shared fixtures: tiny configs for every registered model and a CLI runner.

Tiny runs use offline data only: scikit-learn's bundled 8x8 ``digits`` (or ``synthetic3d``
when the model's book recipe trains on it), the registry's ``spec.tiny`` overrides, a few
dozen samples, 2 epochs, no progress bar. Every run directory lives under ``tmp_path``.
"""
from __future__ import annotations

import json

import pytest

from latentforge.config import RunConfig, build_config
from latentforge.registry import get_spec

# Offline sources small enough for unit tests; anything else (Fashion-MNIST) becomes digits.
TINY_SOURCES = ("digits", "synthetic3d")
TINY_DATA = {"limit_train": 96, "limit_eval": 40}
TINY_TRAIN = {"epochs": 2, "batch_size": 16, "progress": False, "device": "cpu",
              "eval_batch_size": 64}


@pytest.fixture(autouse=True)
def one_thread(request):
    """Tiny tensors run far faster on one intra-op thread, and do not fight other processes
    (OpenMP spinning on a busy 2-core box made a 40-step LSTM on 3 samples take ~1 s instead
    of ~1 ms). Real Fashion-MNIST checks (marked slow) keep torch's default. Results do not
    depend on it (the book run is identical at 1 or 2 threads)."""
    import torch

    before = torch.get_num_threads()
    if request.node.get_closest_marker("slow") is None:
        torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _flatten(sections: dict) -> list[str]:
    """{"model": {"hidden": [16, 4]}} -> ["model.hidden=[16, 4]"] (values as JSON)."""
    return [f"{section}.{key}={json.dumps(value)}"
            for section, values in sections.items() for key, value in values.items()]


def tiny_overrides(name: str, *extra: str, epochs: int = 2) -> list[str]:
    """`--set` overrides that turn the book recipe of `name` into a tiny, quick run.

    Order: tiny data/train defaults, then the registry's `spec.tiny` (which may also pick its
    own data), then `epochs`, then `extra` (last one wins).
    """
    spec = get_spec(name)
    book_source = spec.recipes["book"].get("data", {}).get("source", "fashion-mnist")
    source = book_source if book_source in TINY_SOURCES else "digits"
    base = {"data": {"source": source, **TINY_DATA}, "train": dict(TINY_TRAIN)}
    return [*_flatten(base), *_flatten(spec.tiny), f"train.epochs={epochs}", *extra]


def make_tiny_cfg(name: str, *extra: str, epochs: int = 2) -> RunConfig:
    """`build_config(name, "book", overrides=...)` with the tiny preset applied."""
    return build_config(name, "book", overrides=tiny_overrides(name, *extra, epochs=epochs))


@pytest.fixture
def tiny_cfg():
    """Factory: ``tiny_cfg("stacked_ae", "train.lr=0.5", epochs=1)`` -> RunConfig."""
    return make_tiny_cfg


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run ``latentforge.cli.main(argv)``; returns (exit code, stdout, stderr).

    argparse's own exits (``--help``, usage errors) come back as their SystemExit code.
    """
    from latentforge.cli import main

    capsys.readouterr()  # drop anything printed before
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli(capsys):
    """``code, out, err = cli(["models"])``: `run_cli` bound to this test's capsys."""
    return lambda argv: run_cli(argv, capsys)


@pytest.fixture
def isolated_env(tmp_path, monkeypatch):
    """A private HOME and no data/mirror/proxy variables, so no test sees the real caches;
    returns the HOME folder."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("LATENTFORGE_DATA", "LATENTFORGE_MIRROR", "http_proxy", "HTTP_PROXY",
                "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run the test inside tmp_path, so a default ``runs/`` lands there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def assert_one_error_line(err: str, *fragments: str) -> str:
    """stderr holds exactly one line, ``error: ...``, no traceback, with every fragment."""
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert len(lines) == 1, f"expected one stderr line, got:\n{err}"
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]
