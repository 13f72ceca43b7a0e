"""`train.tensorboard=true`: epoch scalars in RUN/tensorboard/, or an early ConfigError."""
import json
import sys

import pytest

import latentforge as lf
from latentforge.config import TrainConfig
from latentforge.errors import ConfigError

OVERRIDES = ['data.source="digits"', "model.hidden=[16,4]", "train.progress=false",
             "data.limit_train=96", "data.limit_eval=40", "train.batch_size=16",
             'train.device="cpu"', "train.tensorboard=true"]
MESSAGE = "train.tensorboard=true needs TensorBoard: pip install 'latentforge[tensorboard]'"


def test_off_by_default():
    assert TrainConfig().tensorboard is False
    cfg = lf.build_config("stacked_ae", overrides=["train.tensorboard=true"])
    assert cfg.train.tensorboard is True


@pytest.fixture
def no_tensorboard(monkeypatch):
    """`from torch.utils.tensorboard import ...` raises ImportError, as without the package."""
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)


def test_missing_package_fails_before_the_run_dir_is_touched(tmp_path, no_tensorboard):
    run_dir = tmp_path / "run"
    with pytest.raises(ConfigError) as info:
        lf.train("stacked_ae", overrides=[*OVERRIDES, "train.epochs=1"], run_dir=run_dir)
    assert str(info.value) == MESSAGE
    assert not run_dir.exists()


def test_missing_package_keeps_an_existing_run_even_with_overwrite(tmp_path, no_tensorboard):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    cfg = lf.build_config("stacked_ae").to_dict()
    (run_dir / "config.json").write_text(json.dumps(cfg))
    (run_dir / "metrics.jsonl").write_text('{"epoch": 1, "loss": 0.5}\n')
    with pytest.raises(ConfigError, match="pip install 'latentforge.tensorboard.'"):
        lf.train("stacked_ae", overrides=OVERRIDES, run_dir=run_dir, overwrite=True)
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.json", "metrics.jsonl"]


def test_scalars_per_epoch_are_written_and_read_back(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = lf.train("stacked_ae", overrides=[*OVERRIDES, "train.epochs=2"],
                   run_dir=tmp_path / "run")
    log_dir = run.path / "tensorboard"
    assert list(log_dir.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(log_dir))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {"loss", "val_loss", "time_s"} <= set(tags) and "epoch" not in tags
    for tag in ("loss", "val_loss"):
        scalars = events.Scalars(tag)
        assert [s.step for s in scalars] == [1, 2]
        expected = [row[tag] for row in run.history]
        assert [s.value for s in scalars] == pytest.approx(expected, rel=1e-6)
