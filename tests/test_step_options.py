"""The step options of the one step path (training/step.py): gradient clipping, the moving
average of the weights, learning-rate schedules; and training in memory (no file)."""
from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

import latentforge as lf
from conftest import make_tiny_cfg
from latentforge import registry, rundir
from latentforge.config import TrainConfig
from latentforge.errors import ConfigError
from latentforge.training import checkpoint
from latentforge.training.callbacks import Callback
from latentforge.training.ema import EMA
from latentforge.training.schedules import Schedule, lr_factor
from latentforge.training.step import Stepper

TINY = ['data.source="digits"', "model.hidden=[16,4]", "train.progress=false",
        "data.limit_train=96", "data.limit_eval=40", "train.batch_size=16",
        'train.device="cpu"']  # 6 steps an epoch


# ---------------------------------------------------------------- config

@pytest.mark.parametrize("field, value, fragment", [
    ("clip_norm", 0.0, "train.clip_norm"), ("clip_norm", math.inf, "train.clip_norm"),
    ("ema_decay", 1.0, "train.ema_decay"), ("ema_decay", -0.1, "train.ema_decay"),
    ("schedule", "linear", "Unknown train.schedule 'linear'"),
    ("step_size", 0, "train.step_size"), ("warmup_steps", -1, "train.warmup_steps"),
    ("gamma", 0.0, "train.gamma"), ("gamma", 1.5, "train.gamma"),
])
def test_bad_step_options_are_config_errors(field, value, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        TrainConfig(**{field: value}).validate()
    with pytest.raises(ConfigError):
        lf.build_config("stacked_ae", overrides=[f"train.{field}={value!r}".replace("'", '"')
                                                 .replace("inf", "1e999")])


def test_defaults_change_nothing():
    tc = TrainConfig()
    assert (tc.clip_norm, tc.ema_decay, tc.schedule, tc.warmup_steps) == (None, None,
                                                                          "constant", 0)
    model = torch.nn.Linear(2, 1)
    opts = {"main": torch.optim.SGD(model.parameters(), lr=0.1)}
    assert Schedule.from_config(opts, tc, 100) is None
    assert Stepper(opts).allows_fused


# ---------------------------------------------------------------- schedules

def test_warmup_then_cosine_values():
    f = lr_factor(TrainConfig(schedule="cosine", warmup_steps=4), total_steps=14)
    assert [f(k) for k in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(4) == 1.0
    assert f(9) == pytest.approx(0.5)                    # halfway through the 10 cosine steps
    assert f(13) == pytest.approx(0.5 * (1 + math.cos(math.pi * 9 / 10)))
    assert f(14) == pytest.approx(0.0, abs=1e-12)        # 0 after the run's last step


def test_step_schedule_values():
    f = lr_factor(TrainConfig(schedule="step", step_size=3, gamma=0.5), total_steps=100)
    assert [f(k) for k in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    g = lr_factor(TrainConfig(schedule="step", step_size=2, gamma=0.1, warmup_steps=2), 100)
    assert [g(k) for k in range(6)] == [0.5, 1, 1, 1, 0.1 ** 1, 0.1 ** 1]


def test_constant_with_warmup():
    f = lr_factor(TrainConfig(warmup_steps=2), total_steps=10)
    assert [f(k) for k in range(4)] == [0.5, 1, 1, 1]


def test_schedule_sets_lr_per_step_and_resumes_with_the_configured_base():
    model = torch.nn.Linear(2, 1)
    cfg = TrainConfig(schedule="step", step_size=2, gamma=0.5)
    opts = {"main": torch.optim.SGD(model.parameters(), lr=0.8)}
    schedule = Schedule.from_config(opts, cfg, 10)
    seen = [opts["main"].param_groups[0]["lr"]]
    for _ in range(4):
        schedule.advance()
        seen.append(opts["main"].param_groups[0]["lr"])
    assert seen == [0.8, 0.8, 0.4, 0.4, 0.2]
    # resume with another configured lr: same position, new base
    fresh = {"main": torch.optim.SGD(model.parameters(), lr=0.1)}
    again = Schedule.from_config(fresh, cfg, 10)
    again.load_state_dict(schedule.state_dict())
    assert fresh["main"].param_groups[0]["lr"] == 0.1 * 0.25


class _LrAtStart(Callback):
    def on_fit_start(self, trainer, resume):
        self.lr = trainer.optimizers["main"].param_groups[0]["lr"]
        self.step = trainer.state.step


def test_resume_keeps_the_schedule_position_with_the_new_lr(tmp_path):
    options = [*TINY, 'train.schedule="cosine"', "train.warmup_steps=2", "train.lr=0.5"]
    lf.train("stacked_ae", overrides=[*options, "train.epochs=1"], run_dir=tmp_path / "r")
    probe = _LrAtStart()
    lf.train("stacked_ae", run_dir=tmp_path / "r", resume=True, callbacks=[probe],
             overrides=["train.epochs=2", "train.lr=0.2"])
    f = lr_factor(lf.load_run(tmp_path / "r").config.train, total_steps=12)
    assert probe.step == 6
    assert probe.lr == 0.2 * f(6)


# ---------------------------------------------------------------- clipping

def test_clipping_bounds_the_global_gradient_norm():
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 3)
    opts = {"main": torch.optim.SGD(model.parameters(), lr=1.0)}  # update = -gradient
    before = [p.detach().clone() for p in model.parameters()]
    step = Stepper(opts, clip_norm=0.25)
    assert not step.allows_fused
    step.step("main", 1000 * model(torch.randn(4, 8)).pow(2).sum())
    update = torch.cat([(b - p.detach()).flatten() for b, p in zip(before,
                                                                   model.parameters())])
    assert update.norm() == pytest.approx(0.25, rel=1e-5)


def test_clipping_off_leaves_the_gradient():
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 3)
    opts = {"main": torch.optim.SGD(model.parameters(), lr=1.0)}
    before = [p.detach().clone() for p in model.parameters()]
    Stepper(opts).step("main", 1000 * model(torch.randn(4, 8)).pow(2).sum())
    update = torch.cat([(b - p.detach()).flatten() for b, p in zip(before,
                                                                   model.parameters())])
    assert update.norm() > 1.0


# ---------------------------------------------------------------- moving average

def test_ema_equals_a_hand_computation():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    decay = 0.9
    ema = EMA(model, decay)
    opts = {"main": torch.optim.SGD(model.parameters(), lr=0.1)}
    step = Stepper(opts, ema=ema)
    hand = [p.detach().clone() for p in model.parameters()]
    for _ in range(3):
        step.step("main", model(torch.randn(5, 3)).pow(2).mean())
        step.end_batch()
        hand = [decay * h + (1 - decay) * p.detach() for h, p in zip(hand, model.parameters())]
    for got, want in zip(ema.average, hand):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-7)
    raw = [p.detach().clone() for p in model.parameters()]
    with ema.swapped():
        for p, want in zip(model.parameters(), hand):
            torch.testing.assert_close(p.detach(), want, rtol=0, atol=1e-7)
    assert all(torch.equal(p, r) for p, r in zip(model.parameters(), raw))  # exact restore


def test_ema_warmup_uses_the_tensorflow_rule_and_resumes_its_count():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    ema = EMA(model, 0.5, warmup=True)
    opts = {"main": torch.optim.SGD(model.parameters(), lr=0.1)}
    step = Stepper(opts, ema=ema)
    hand = [p.detach().clone() for p in model.parameters()]
    for n in range(12):  # (1 + n) / (10 + n) < 0.5 until n = 8
        decay = min(0.5, (1 + n) / (10 + n))
        assert ema.current_decay() == decay
        step.step("main", model(torch.randn(5, 3)).pow(2).mean())
        step.end_batch()
        hand = [decay * h + (1 - decay) * p.detach() for h, p in zip(hand, model.parameters())]
    assert ema.updates == 12
    for got, want in zip(ema.average, hand):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-7)
    assert EMA(model, 0.5).current_decay() == 0.5  # no warm-up: the decay from the start


def test_ema_averages_only_the_named_parameters():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 1))
    named = [(f"0.{n}", p) for n, p in model[0].named_parameters()]
    ema = EMA(model, 0.5, named)
    assert set(ema.names) == {"0.weight", "0.bias"}
    opts = {"main": torch.optim.SGD(model.parameters(), lr=0.1)}
    step = Stepper(opts, ema=ema)
    start = model[0].weight.detach().clone()
    step.step("main", model(torch.randn(4, 3)).pow(2).mean())
    step.end_batch()
    raw = {k: v.clone() for k, v in model.state_dict().items()}
    with ema.swapped():
        torch.testing.assert_close(model[0].weight.detach(), (start + raw["0.weight"]) / 2)
        assert torch.equal(model[1].weight, raw["1.weight"])  # not averaged: raw
    ema.load_state_dict({"0.weight": start, "0.bias": raw["0.bias"]})  # no "1.*" needed
    assert torch.equal(ema.average[0], start)


def test_gan_ema_averages_the_generator_only(tmp_path):
    run = lf.train(make_tiny_cfg("gan", "train.ema_decay=0.5", epochs=1),
                   run_dir=tmp_path / "r")
    names = {n for n, _ in run.model.ema_parameters()}
    assert names == {f"generator.{n}" for n, _ in run.model.generator.named_parameters()}
    folder = checkpoint.latest_checkpoint(run.path)
    averaged = load_file(str(folder / rundir.AVERAGED))
    raw = load_file(str(folder / rundir.WEIGHTS))
    d_keys = [k for k in raw if k.startswith("discriminator.")]
    assert d_keys and all(torch.equal(averaged[k], raw[k]) for k in d_keys)
    assert any(not torch.equal(averaged[k], raw[k]) for k in names)


class _Halving(Callback):
    """Records each epoch's step count; from epoch 2 the model asks for half the batch."""

    def __init__(self):
        self.steps = []

    def on_epoch_end(self, trainer, record):
        self.steps.append(record["step"])
        trainer.model.batch_size = lambda default: default // 2


def test_the_models_batch_size_hook_sets_each_epochs_batches():
    from latentforge.api import build_model
    from latentforge.data import load_data
    from latentforge.training.engine import Trainer

    cfg = lf.build_config("stacked_ae", overrides=[*TINY, "train.epochs=2"])
    splits = load_data(cfg.data)
    model = build_model(cfg, splits.train.sample_shape)
    assert model.batch_size(16) == 16  # the default hook: train.batch_size
    seen, original = [], model.train_step
    model.train_step = lambda x, y, step: (seen.append(len(x)), original(x, y, step))[1]
    halving = _Halving()
    Trainer(model, splits, cfg, callbacks=[halving]).fit()
    assert seen == [16] * 6 + [8] * 12  # 96 items: batches of 16, then of 8
    assert halving.steps == [6, 18]  # state.step counts the batches really taken


def test_ema_run_validates_saves_and_loads_the_averaged_weights(tmp_path):
    run = lf.train("stacked_ae", overrides=[*TINY, "train.epochs=2", "train.ema_decay=0.8"],
                   run_dir=tmp_path / "r")
    folder = checkpoint.latest_checkpoint(run.path)
    assert rundir.weights_path(run.path) == folder / rundir.AVERAGED
    averaged, raw = load_file(str(folder / rundir.AVERAGED)), load_file(str(folder /
                                                                           rundir.WEIGHTS))
    assert any(not torch.equal(averaged[k], raw[k]) for k in raw)
    state = run.model.state_dict()
    assert all(torch.equal(state[k], averaged[k]) for k in averaged)  # the returned model
    loaded = lf.load_run(run.path)
    assert all(torch.equal(v, averaged[k]) for k, v in loaded.model.state_dict().items())
    assert run.history[-1]["val_loss"] == run.evaluate("valid")["loss"]  # validated with it


# ---------------------------------------------------------------- resume with options on

class _StopAfterFirstEpoch(Callback):
    def on_epoch_end(self, trainer, record):
        if record["epoch"] == 1:
            trainer.stop()


@pytest.mark.parametrize("ema_warmup", [False, True])
def test_fused_dense_step_with_schedule_and_average_resumes_bitwise(tmp_path, ema_warmup):
    """No clipping: the dense model keeps its fused SGD step, which reads the scheduled lr;
    with the average's warm-up, its update count resumes from the checkpoint's step."""
    options = [*TINY, "train.epochs=2", "train.lr=0.5", 'train.schedule="cosine"',
               "train.warmup_steps=3", "train.ema_decay=0.7",
               f"train.ema_warmup={str(ema_warmup).lower()}"]
    whole = lf.train("stacked_ae", overrides=options, run_dir=tmp_path / "whole")
    lf.train("stacked_ae", overrides=options, run_dir=tmp_path / "part",
             callbacks=[_StopAfterFirstEpoch()])
    assert [r["epoch"] for r in rundir.read_history(tmp_path / "part")] == [1]
    resumed = lf.train("stacked_ae", run_dir=tmp_path / "part", resume=True)
    for k, v in whole.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    assert whole.history[-1]["loss"] == resumed.history[-1]["loss"]


# ---------------------------------------------------------------- in memory

@pytest.fixture
def no_writes(tmp_path, monkeypatch):
    """An empty working folder, and the library's writers made to fail."""
    from latentforge import atomic

    def refuse(*args, **kwargs):
        raise AssertionError(f"a file was written: {args[:1]}")

    monkeypatch.chdir(tmp_path)
    for name in ("atomic_write_text", "atomic_write_bytes", "atomic_path"):
        monkeypatch.setattr(atomic, name, refuse)
    monkeypatch.setattr(checkpoint, "_write_synced", refuse)
    return tmp_path


@pytest.mark.parametrize("name", ["stacked_ae", "gan"])
def test_training_in_memory_writes_no_file(no_writes, name):
    cfg = make_tiny_cfg(name, "train.ema_decay=0.5", 'train.schedule="cosine"', epochs=2)
    run = lf.train(cfg, run_dir=False)
    assert run.path is None and [r["epoch"] for r in run.history] == [1, 2]
    assert list(no_writes.iterdir()) == []


def test_training_in_memory_refuses_what_needs_a_folder(no_writes):
    with pytest.raises(ConfigError, match="run_dir=False"):
        lf.train("stacked_ae", overrides=[*TINY, "train.tensorboard=true"], run_dir=False)
    with pytest.raises(ConfigError, match="run_dir=False"):
        lf.train("stacked_ae", overrides=TINY, run_dir=False, resume=True)
    assert list(no_writes.iterdir()) == []


def test_in_memory_trainer_equals_a_run_directory(tmp_path):
    from latentforge.api import build_model
    from latentforge.data import load_data
    from latentforge.training.engine import Trainer

    on_disk = lf.train("stacked_ae", overrides=[*TINY, "train.epochs=2"],
                       run_dir=tmp_path / "r")
    cfg = lf.build_config("stacked_ae", overrides=[*TINY, "train.epochs=2"])
    splits = load_data(cfg.data)
    model = build_model(cfg, splits.train.sample_shape)
    result = Trainer(model, splits, cfg).fit()
    assert [r["loss"] for r in result.history] == [r["loss"] for r in on_disk.history]
    assert all(torch.equal(v, on_disk.model.state_dict()[k])
               for k, v in model.state_dict().items())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_options_turned_on_or_off_at_resume(tmp_path):
    """An average or schedule turned on at resume starts from the checkpoint's raw weights
    and step; turned off, load_run reads the raw weights again."""
    run_dir = tmp_path / "r"
    lf.train("stacked_ae", overrides=[*TINY, "train.epochs=1"], run_dir=run_dir)
    on = lf.train("stacked_ae", run_dir=run_dir, resume=True, overrides=[
        "train.epochs=2", "train.ema_decay=0.5", 'train.schedule="step"', "train.step_size=2"])
    assert rundir.weights_path(run_dir).name == rundir.AVERAGED
    assert [r["epoch"] for r in on.history] == [1, 2]
    off = lf.train("stacked_ae", run_dir=run_dir, resume=True,
                   overrides=["train.epochs=3", "train.ema_decay=null"])
    assert rundir.weights_path(run_dir).name == rundir.WEIGHTS
    loaded = lf.load_run(run_dir)
    assert all(torch.equal(v, off.model.state_dict()[k])
               for k, v in loaded.model.state_dict().items())


# ---------------------------------------------------------------- every model

STEP_OPTIONS = ("train.ema_decay=0.9", "train.clip_norm=0.5", 'train.schedule="cosine"',
                "train.warmup_steps=3")


def _checkpoint_tensors(run_dir) -> dict:
    """Every tensor of the newest checkpoint: raw and averaged weights."""
    from safetensors.torch import load_file

    folder = checkpoint.latest_checkpoint(run_dir)
    return {f"{f.name}:{k}": v for f in sorted(folder.glob("*.safetensors"))
            if f.name != "rng.safetensors" for k, v in load_file(str(f)).items()}


def _metrics(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"tensor '{k}' differs"


@pytest.mark.parametrize("name", registry.names())
def test_resume_with_step_options_equals_uninterrupted(name, tmp_path):
    """Every registered model (tiny preset): EMA + clipping + cosine schedule with warm-up,
    stopped after epoch 1 and resumed: raw weights, averaged weights and metrics bitwise
    equal to an uninterrupted run."""
    cfg = lambda: make_tiny_cfg(name, *STEP_OPTIONS, epochs=2)  # noqa: E731
    whole = lf.train(cfg(), run_dir=tmp_path / "whole")
    lf.train(cfg(), run_dir=tmp_path / "part", callbacks=[_StopAfterFirstEpoch()])
    assert [r["epoch"] for r in _metrics(tmp_path / "part")] == [1]
    resumed = lf.train(name, run_dir=tmp_path / "part", resume=True)
    _assert_same_state(_state(whole.model), _state(resumed.model))
    _assert_same_state(_checkpoint_tensors(whole.path), _checkpoint_tensors(resumed.path))
    assert (tmp_path / "part" / "trainer_state").is_dir()
    drop = ("time_s",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in _metrics(resumed.path)] \
        == [{k: v for k, v in r.items() if k not in drop} for r in whole.history]
