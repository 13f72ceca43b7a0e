"""Crash safety: an interrupted checkpoint write leaves the previous checkpoint loadable."""
import os

import pytest
import torch
from safetensors.torch import load_file

import latentforge as lf
from latentforge.atomic import atomic_write_text
from latentforge.training import checkpoint

OVERRIDES = ["data.source=\"digits\"", "model.hidden=[16,4]", "train.progress=false",
             "train.epochs=1"]


class Crash(BaseException):
    """Stands in for a kill: not an Exception, so nothing catches it."""


def _weights(path):
    return load_file(str(path))


def test_atomic_write_keeps_old_content_on_crash(tmp_path, monkeypatch):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "old")

    def boom(*args):
        raise Crash()

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(Crash):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]  # temp file cleaned up


@pytest.mark.parametrize("crash_at", ["write", "torch.save", "os.replace", "latest"])
def test_crash_during_checkpoint_keeps_previous(tmp_path, monkeypatch, crash_at):
    run_dir = tmp_path / "run"
    lf.train("stacked_ae", overrides=OVERRIDES, run_dir=run_dir)
    before = _weights(run_dir / "model.safetensors")
    before_ckpt = checkpoint.latest_checkpoint(run_dir)

    real = {"write": checkpoint._write_synced, "torch.save": torch.save,
            "os.replace": os.replace, "latest": checkpoint.atomic_write_text}
    calls = {"n": 0}

    def crashing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2 or crash_at in ("torch.save", "latest"):
            raise Crash()
        return real[crash_at](*args, **kwargs)

    target = {"write": (checkpoint, "_write_synced"), "torch.save": (torch, "save"),
              "os.replace": (os, "replace"), "latest": (checkpoint, "atomic_write_text")}
    monkeypatch.setattr(*target[crash_at], crashing)
    with pytest.raises(Crash):
        lf.train("stacked_ae", overrides=OVERRIDES[:-1] + ["train.epochs=2"], run_dir=run_dir,
                 resume=True)
    monkeypatch.undo()

    after_ckpt = checkpoint.latest_checkpoint(run_dir)
    assert after_ckpt == before_ckpt
    loaded = lf.load_run(run_dir)  # root weights still complete
    for key, value in _weights(run_dir / "model.safetensors").items():
        assert torch.equal(value, before[key])
    assert loaded.history[-1]["epoch"] <= 2
    resumed = lf.train("stacked_ae", overrides=["train.epochs=2"], run_dir=run_dir, resume=True)
    assert [r["epoch"] for r in resumed.history] == [1, 2]


def test_corrupt_latest_pointer_falls_back_to_newest_complete(tmp_path):
    run_dir = tmp_path / "run"
    lf.train("stacked_ae", overrides=OVERRIDES, run_dir=run_dir)
    (run_dir / "trainer_state" / "latest").write_text("ckpt-garbage")
    assert checkpoint.latest_checkpoint(run_dir).name.startswith("ckpt-000001")
