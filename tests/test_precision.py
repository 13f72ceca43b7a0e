"""Mixed precision (train.precision, training/precision.py): the config field and its
errors, bf16 autocast on CPU, the fused step turned off, bitwise resume, and the gradient
scaler of 16-mixed (run on CPU here by letting the test, only the test, accept the CPU)."""
from __future__ import annotations

import json
import math
from functools import partial

import pytest
import torch

import latentforge as lf
from conftest import make_tiny_cfg
from latentforge.config import TrainConfig
from latentforge.errors import ConfigError, RunError
from latentforge.training import checkpoint, device
from latentforge.training.callbacks import Callback
from latentforge.training.precision import Precision
from latentforge.training.step import Stepper

AMP_MODELS = ["stacked_ae", "conv_ae", "vae", "dcgan"]


@pytest.fixture
def fp16_on_cpu(monkeypatch):
    """Let 16-mixed run on the CPU (torch has CPU float16 autocast and GradScaler("cpu")),
    so the scaler's mechanics are tested without a GPU; the product refuses it."""
    monkeypatch.setattr(device, "MIXED16_DEVICES", ("cuda", "cpu"))


@pytest.fixture
def lively_scaler(monkeypatch):
    """A scaler that starts high and grows every 3 steps: on tiny runs its scale overflows,
    backs off and grows again, so a resume that lost its state would train differently."""
    monkeypatch.setattr(torch.amp, "GradScaler",
                        partial(torch.amp.GradScaler, init_scale=2.0 ** 24, growth_interval=3))


class _StopAfterFirstEpoch(Callback):
    def on_epoch_end(self, trainer, record):
        if record["epoch"] == 1:
            trainer.stop()


def _state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _saved_state(run_dir) -> dict:
    return json.loads((checkpoint.latest_checkpoint(run_dir) / "state.json").read_text())


def _resume_equals_uninterrupted(name, tmp_path, *options):
    """Train 2 epochs whole, and 1 + a resumed 1; assert weights, metrics and the saved
    state.json (scaler included) are equal. Returns the whole run's saved state."""
    cfg = lambda: make_tiny_cfg(name, *options, epochs=2)  # noqa: E731
    whole = lf.train(cfg(), run_dir=tmp_path / "whole")
    lf.train(cfg(), run_dir=tmp_path / "part", callbacks=[_StopAfterFirstEpoch()])
    resumed = lf.train(name, run_dir=tmp_path / "part", resume=True)
    a, b = _state(whole.model), _state(resumed.model)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    drop = lambda r: {k: v for k, v in r.items() if k != "time_s"}  # noqa: E731
    assert [drop(r) for r in whole.history] == [drop(r) for r in resumed.history]
    assert _saved_state(whole.path) == _saved_state(resumed.path)
    return _saved_state(whole.path)


# ---------------------------------------------------------------- config and device

@pytest.mark.parametrize("value", ["32", 32, "bf16", "16-mixed"])
def test_precision_values_are_accepted(value):
    tc = TrainConfig(precision=value)
    tc.validate()
    assert tc.precision == str(value)


def test_default_is_32_and_32_given_as_a_number_is_saved_as_a_string():
    assert TrainConfig().precision == "32"
    cfg = lf.build_config("stacked_ae", overrides=["train.precision=32"])
    assert cfg.to_dict()["train"]["precision"] == "32"
    assert lf.build_config("stacked_ae", overrides=["train.precision=bf16"]).train.precision \
        == "bf16"


@pytest.mark.parametrize("text, fragment", [
    ("16", "Unknown train.precision '16'. Available: 32, bf16, 16-mixed"),
    ('"fp16"', "Unknown train.precision 'fp16'. Available: 32, bf16, 16-mixed"),
    ("true", "train.precision = True should be"),
    ("null", "train.precision = None should be"),
])
def test_unknown_precision_is_one_config_error_line(text, fragment):
    with pytest.raises(ConfigError) as info:
        lf.build_config("stacked_ae", overrides=[f"train.precision={text}"])
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_16_mixed_is_refused_off_cuda_where_the_device_is_resolved():
    with pytest.raises(ConfigError, match="use train.precision=bf16 on cpu"):
        device.resolve_device("cpu", "16-mixed")
    assert device.resolve_device("cpu", "bf16").type == "cpu"
    cfg = lf.build_config("stacked_ae", overrides=["train.precision=16-mixed"])  # no device yet
    assert cfg.train.precision == "16-mixed"


def test_16_mixed_on_cpu_is_one_error_line_and_no_run_folder(tmp_path, cli):
    code, out, err = cli(["train", "stacked_ae", "--data", "digits", "--epochs", "1",
                          "--device", "cpu", "--set", "train.precision=16-mixed",
                          "--set", "data.limit_train=32", "--set", "data.limit_eval=16",
                          "--runs-dir", tmp_path, "--no-progress", "-q"])
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ")
    assert "train.precision=bf16" in lines[0] and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_kernel_the_device_lacks_in_bf16_is_one_config_error(monkeypatch):
    """As oneDNN's CPU LSTM in bf16 does (recurrent_ae): a RuntimeError from the step."""
    cfg = make_tiny_cfg("stacked_ae", 'train.precision="bf16"', epochs=1)

    def unsupported(*args, **kwargs):
        raise RuntimeError("could not create a primitive descriptor. More details")

    from latentforge.models.autoencoders import DenseAutoencoder

    monkeypatch.setattr(DenseAutoencoder, "train_step", unsupported)
    with pytest.raises(ConfigError, match=r"train\.precision=bf16 on cpu \(RuntimeError: "
                       r"could not create a primitive descriptor\); .*use train\.precision=32"):
        lf.train(cfg, run_dir=False)


# ---------------------------------------------------------------- bf16 on the CPU

class _AutocastProbe(Callback):
    """Wraps the model's train_step to record the autocast state it runs in."""

    def on_fit_start(self, trainer, resume):
        self.seen, original = [], trainer.model.train_step

        def probe(x, y, step):
            self.seen.append((torch.is_autocast_enabled("cpu"),
                              torch.get_autocast_dtype("cpu")))
            return original(x, y, step)

        trainer.model.train_step = probe


@pytest.mark.parametrize("name", AMP_MODELS)
def test_bf16_trains_with_finite_losses_float32_weights_and_differs_from_fp32(name):
    probe = _AutocastProbe()
    bf16 = lf.train(make_tiny_cfg(name, 'train.precision="bf16"', epochs=2), run_dir=False,
                    callbacks=[probe])
    fp32 = lf.train(make_tiny_cfg(name, epochs=2), run_dir=False)
    assert probe.seen and set(probe.seen) == {(True, torch.bfloat16)}
    assert all(math.isfinite(v) for r in bf16.history for k, v in r.items() if "loss" in k)
    assert {v.dtype for v in bf16.model.state_dict().values() if v.is_floating_point()} \
        == {torch.float32}
    a, b = _state(bf16.model), _state(fp32.model)
    assert any(not torch.equal(a[k], b[k]) for k in a)  # autocast really changed the math
    assert bf16.history[-1]["loss"] != fp32.history[-1]["loss"]


def test_32_runs_without_autocast_and_saves_no_scaler(tmp_path):
    probe = _AutocastProbe()
    run = lf.train(make_tiny_cfg("stacked_ae", epochs=1), run_dir=tmp_path / "r",
                   callbacks=[probe])
    assert set(probe.seen) == {(False, torch.get_autocast_dtype("cpu"))}
    assert "scaler" not in _saved_state(run.path)


def test_optimizer_states_stay_float32_under_bf16():
    from latentforge.api import build_model
    from latentforge.data import load_data
    from latentforge.training.engine import Trainer

    cfg = make_tiny_cfg("vae", 'train.precision="bf16"', epochs=1)  # RMSprop: a state each
    splits = load_data(cfg.data)
    trainer = Trainer(build_model(cfg, splits.train.sample_shape), splits, cfg)
    trainer.fit()
    states = [t for o in trainer.optimizers.values() for s in o.state.values()
              for t in s.values() if torch.is_tensor(t) and t.is_floating_point()]
    assert states and {t.dtype for t in states} == {torch.float32}


def test_bf16_validation_is_measured_in_float32():
    run = lf.train(make_tiny_cfg("stacked_ae", 'train.precision="bf16"', epochs=1),
                   run_dir=False)
    assert run.history[-1]["val_loss"] == run.evaluate("valid")["loss"]


def test_the_fused_step_is_used_only_in_32(monkeypatch):
    from latentforge.models import autoencoders

    calls = []
    fused = autoencoders.fused_sgd_step
    monkeypatch.setattr(autoencoders, "fused_sgd_step",
                        lambda *a, **k: (calls.append(1), fused(*a, **k))[1])
    lf.train(make_tiny_cfg("stacked_ae", epochs=1), run_dir=False)
    assert calls  # the dense tiny preset takes the fused step in float32
    calls.clear()
    lf.train(make_tiny_cfg("stacked_ae", 'train.precision="bf16"', epochs=1), run_dir=False)
    assert not calls
    opts = {"main": torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)}
    assert Stepper(opts, precision=Precision("32", "cpu")).allows_fused
    assert not Stepper(opts, precision=Precision("bf16", "cpu")).allows_fused
    assert not Stepper(opts, precision=Precision("16-mixed", "cpu")).allows_fused


@pytest.mark.parametrize("name", ["stacked_ae", "dcgan"])
def test_bf16_resume_is_bitwise_identical(name, tmp_path):
    saved = _resume_equals_uninterrupted(name, tmp_path, 'train.precision="bf16"',
                                         "train.ema_decay=0.9", "train.clip_norm=0.5")
    assert "scaler" not in saved


# ---------------------------------------------------------------- the gradient scaler

def _overflow_setup(clip_norm):
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 3)
    opts = {"main": torch.optim.Adam(model.parameters(), lr=0.1, fused=True)}
    amp = Precision("16-mixed", "cpu")
    return model, opts, amp, Stepper(opts, clip_norm=clip_norm, precision=amp)


@pytest.mark.parametrize("clip_norm", [None, 0.5])
def test_an_overflowing_scale_skips_the_step_and_backs_off(clip_norm):
    model, opts, amp, step = _overflow_setup(clip_norm)
    before = _state(model)
    x = torch.randn(4, 8)
    with amp.autocast():
        loss = 1e4 * model(x).float().pow(2).mean()  # x 65536: inf in float16 gradients
    step.step("main", loss)
    step.end_batch()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert not opts["main"].state or all(float(s["step"]) == 0
                                         for s in opts["main"].state.values())
    assert amp.state_dict()["scale"] == 2.0 ** 15  # backed off once
    for _ in range(20):  # the scale keeps backing off until a step goes through
        with amp.autocast():
            loss = 1e4 * model(x).float().pow(2).mean()
        step.step("main", loss)
        step.end_batch()
    assert any(not torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_the_scale_is_updated_once_per_engine_batch():
    model = torch.nn.Linear(3, 1)
    opts = {"a": torch.optim.SGD(model.parameters(), lr=0.01),
            "b": torch.optim.SGD(model.parameters(), lr=0.01)}
    amp = Precision("16-mixed", "cpu")
    step = Stepper(opts, precision=amp)
    for _ in range(3):
        for name in opts:  # two optimizers on one batch, like a GAN's D and G
            with amp.autocast():
                loss = 0.01 * model(torch.randn(4, 3)).float().mean()  # no overflow
            step.step(name, loss)
        step.end_batch()
    assert amp.state_dict()["_growth_tracker"] == 3
    step.end_batch()  # a batch with no step leaves the scaler alone
    assert amp.state_dict()["_growth_tracker"] == 3


def test_scaled_gradients_are_unscaled_before_clipping():
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 3)
    opts = {"main": torch.optim.SGD(model.parameters(), lr=1.0)}  # update = -gradient
    before = [p.detach().clone() for p in model.parameters()]
    step = Stepper(opts, clip_norm=0.25, precision=Precision("16-mixed", "cpu"))
    step.step("main", 10 * model(torch.randn(4, 8)).pow(2).sum())
    update = torch.cat([(b - p.detach()).flatten() for b, p in zip(before,
                                                                   model.parameters())])
    assert update.norm() == pytest.approx(0.25, rel=1e-4)  # clipped to the true norm


def test_scaler_state_round_trips_through_a_checkpoint(tmp_path, fp16_on_cpu, lively_scaler):
    run = lf.train(make_tiny_cfg("stacked_ae", 'train.precision="16-mixed"', epochs=1),
                   run_dir=tmp_path / "r")
    saved = _saved_state(run.path)["scaler"]
    assert sorted(saved) == sorted(checkpoint.SCALER_KEYS)
    assert saved["growth_interval"] == 3 and saved["scale"] != 2.0 ** 24  # it moved
    opts = run.model.configure_optimizers(run.config.train)
    fresh = Precision("16-mixed", "cpu")
    checkpoint.load_checkpoint(run.path, run.model, opts, torch.Generator(), precision=fresh)
    assert fresh.state_dict() == saved


@pytest.mark.parametrize("name", ["stacked_ae", "dcgan"])
def test_16_mixed_resume_is_bitwise_identical(name, tmp_path, fp16_on_cpu, lively_scaler):
    saved = _resume_equals_uninterrupted(name, tmp_path, 'train.precision="16-mixed"',
                                         "train.clip_norm=1.0")
    assert saved["scaler"]["scale"] != 2.0 ** 24  # the scale moved: its state mattered


@pytest.mark.parametrize("bad", [{"scale": "x"}, {"scale": -1.0}, [1, 2], {"scale": 1e999}])
def test_a_broken_saved_scaler_state_is_a_run_error(tmp_path, fp16_on_cpu, bad):
    run = lf.train(make_tiny_cfg("stacked_ae", 'train.precision="16-mixed"', epochs=1),
                   run_dir=tmp_path / "r")
    path = checkpoint.latest_checkpoint(run.path) / "state.json"
    saved = json.loads(path.read_text())
    saved["scaler"] = ({**saved["scaler"], **bad} if isinstance(bad, dict) else bad)
    path.write_text(json.dumps(saved))
    with pytest.raises(RunError, match="gradient scaler"):
        lf.train("stacked_ae", run_dir=run.path, resume=True,
                 overrides=["train.epochs=2"])
