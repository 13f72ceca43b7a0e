"""Property test: `load_run` and `--resume` on damaged run files (random bytes, truncated
and mutated safetensors, config.json, state.json, optimizers.pt) load or give one
LatentforgeError, which the CLI prints as one `error:` line with exit code 2 - never
another exception, a hang, or an allocation the file's numbers ask for."""
from __future__ import annotations

import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import latentforge as lf
from conftest import assert_one_error_line, run_cli
from latentforge.errors import LatentforgeError
from latentforge.training import checkpoint

OVERRIDES = ['data.source="digits"', "model.hidden=[16,4]", "data.limit_train=64",
             "data.limit_eval=32", "train.epochs=1", "train.progress=false"]
SETTINGS = settings(max_examples=40, deadline=10_000, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("fuzz") / "run"
    lf.train("stacked_ae", overrides=OVERRIDES, run_dir=run_dir)
    return run_dir


def _files(run_dir):
    ckpt = checkpoint.latest_checkpoint(run_dir)
    return {"weights": ckpt / "model.safetensors", "config": run_dir / "config.json",
            "state": ckpt / "state.json", "optimizers": ckpt / "optimizers.pt",
            "rng": ckpt / "rng.safetensors"}


def _damage(data: bytes, how: str, cut: float, at: float, junk: bytes) -> bytes:
    if how == "random":
        return junk
    if how == "truncate":
        return data[:int(len(data) * cut)]
    i = int(len(data) * at) % max(len(data), 1)
    return data[:i] + junk + data[i + len(junk):]


def _fresh_copy(pristine, tmp_path):
    run_dir = tmp_path / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.copytree(pristine, run_dir)
    return run_dir


@SETTINGS
@given(which=st.sampled_from(["weights", "config", "state", "optimizers", "rng"]),
       how=st.sampled_from(["random", "truncate", "mutate"]),
       cut=st.floats(0, 1), at=st.floats(0, 1), junk=st.binary(min_size=1, max_size=64))
def test_damaged_run_files_load_or_fail_cleanly(pristine, tmp_path, capsys, which, how, cut,
                                                at, junk):
    run_dir = _fresh_copy(pristine, tmp_path)
    path = _files(run_dir)[which]
    (run_dir / "model.safetensors").unlink()  # the top-level link: damage one file only
    path.write_bytes(_damage(path.read_bytes(), how, cut, at, junk))
    try:
        lf.load_run(run_dir)
    except LatentforgeError:
        pass
    code, _, err = run_cli(["train", "stacked_ae", "--resume", "--runs-dir", tmp_path,
                            "--name", "run", "--epochs", "2", "--no-progress", "-q"], capsys)
    if code != 0:
        assert code == 2, err
        assert_one_error_line(err)
