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
