"""Engine details: Keras-style batching, step counts, runs without validation data."""
import math

import latentforge as lf

TINY = ['data.source="digits"', "model.hidden=[16,4]", "train.progress=false"]


def test_last_partial_batch_is_kept_and_steps_counted(tmp_path):
    run = lf.train("stacked_ae", overrides=TINY + ["train.epochs=2", "train.batch_size=50"],
                   run_dir=tmp_path / "r")
    n_train = len(run.data().train)
    assert n_train % 50 != 0
    per_epoch = math.ceil(n_train / 50)
    assert [r["step"] for r in run.history] == [per_epoch, 2 * per_epoch]


def test_training_without_validation_data(tmp_path):
    run = lf.train("stacked_ae", overrides=TINY + ["train.epochs=1", "data.valid_fraction=0"],
                   run_dir=tmp_path / "r")
    assert len(run.data().valid) == 0
    record = run.history[-1]
    assert "loss" in record and not any(k.startswith("val_") for k in record)


# ---------------------------------------------------------------- callbacks, in memory

def _trainer(*extra, callbacks=()):
    from latentforge.api import build_model
    from latentforge.data import load_data
    from latentforge.training.engine import Trainer

    cfg = lf.build_config("stacked_ae", overrides=[*TINY, "data.limit_train=96",
                                                   "train.batch_size=16", *extra])
    splits = load_data(cfg.data)
    return Trainer(build_model(cfg, splits.train.sample_shape), splits, cfg,
                   callbacks=callbacks)


def test_hooks_run_in_order_with_step_counts():
    from latentforge.training.callbacks import Callback

    class Recorder(Callback):
        def __init__(self):
            self.events = []

        def on_fit_start(self, trainer, resume):
            self.events.append(("start", resume))

        def on_batch_end(self, trainer, step, losses):
            assert "loss" in losses and losses["loss"].dim() == 0
            self.events.append(("batch", step))

        def on_epoch_end(self, trainer, record):
            assert trainer.history[-1] is record and trainer.state.epoch == record["epoch"]
            self.events.append(("epoch", record["epoch"], record["step"]))

        def on_fit_end(self, trainer):
            self.events.append(("end",))

    rec = Recorder()
    result = _trainer("train.epochs=2", callbacks=[rec]).fit()
    assert rec.events == [("start", False), *[("batch", s) for s in range(1, 7)],
                          ("epoch", 1, 6), *[("batch", s) for s in range(7, 13)],
                          ("epoch", 2, 12), ("end",)]
    assert [r["epoch"] for r in result.history] == [1, 2]


def test_stop_ends_the_fit_after_the_epoch():
    from latentforge.training.callbacks import Callback

    class StopNow(Callback):
        def on_epoch_end(self, trainer, record):
            trainer.stop()

    assert [r["epoch"] for r in _trainer("train.epochs=5", callbacks=[StopNow()])
            .fit().history] == [1]


def test_in_memory_divergence_says_nothing_was_saved():
    import pytest

    from latentforge.errors import TrainingDiverged

    with pytest.raises(TrainingDiverged, match=r"epoch 1 at .*; nothing was saved \(training "
                                               r"in memory\)\. Lower train\.lr \(now 1e\+30\)"):
        _trainer("train.epochs=1", "train.lr=1e30").fit()


def test_public_train_epoch_and_no_private_engine_access():
    import re
    from pathlib import Path

    trainer = _trainer("train.epochs=1")
    means = trainer.train_epoch(trainer.splits.train, 0)
    assert "loss" in means and trainer.state.step == 0  # run_epoch advances the state
    root = Path(__file__).resolve().parents[1]
    for path in [*root.glob("benchmarks/*.py"), *root.glob("scripts/*.py"),
                 *(root / "src" / "latentforge").rglob("*.py")]:
        assert not re.search(r"\btrainer\._[a-z]|Trainer\._", path.read_text()), path
