"""data.streaming: an image folder decoded per batch gives the same splits, pixels, training
results and resumes as the in-memory folder source; what it refuses, it refuses in one line."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import latentforge
from latentforge.data import DataConfig, load_data
from latentforge.data.streaming import StreamingData
from latentforge.errors import ConfigError, ResourceError
from tests.conftest import assert_one_error_line, tiny_overrides

SPLITS = ("train", "valid", "test")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """60 PNGs in two class folders: 12x12 and 16x16, grayscale and RGB, random pixels."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (root / c).mkdir()
        for i in range(30):
            side = 12 if i % 2 else 16
            im = Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))
            (im.convert("L") if i % 3 == 0 else im).save(root / c / f"{i:03d}.png")
    return root


def _data(folder, *extra: str) -> list[str]:
    return [f"data.source={folder}", "data.image_size=8", "data.grayscale=true",
            "data.valid_fraction=0.2", "data.test_fraction=0.1", *extra]


def _cfg(folder, **kw) -> DataConfig:
    return DataConfig(source=str(folder), image_size=10, valid_fraction=0.2,
                      test_fraction=0.1, **kw)


@pytest.mark.parametrize("options", [dict(grayscale=True), dict(grayscale=False, pad_to=13),
                                     dict(grayscale=True, limit_train=17, limit_eval=5)])
def test_streaming_splits_equal_in_memory_splits(folder, options):
    memory = load_data(_cfg(folder, **options))
    stream = load_data(_cfg(folder, streaming=True, **options))
    assert stream.sizes() == memory.sizes()
    for name in SPLITS:
        a, b = getattr(memory, name), getattr(stream, name)
        assert isinstance(b, StreamingData) and b.sample_shape == a.sample_shape
        assert torch.equal(a.y, b.y) and b.classes == a.classes == ["cat", "dog"]
        idx = torch.randperm(len(a), generator=torch.Generator().manual_seed(1))
        assert torch.equal(b.batch(idx), a.batch(idx))
        assert torch.equal(b.x, a.x)


def test_streaming_keeps_train_classes(folder):
    memory = load_data(_cfg(folder, grayscale=True, train_classes=[1]))
    stream = load_data(_cfg(folder, grayscale=True, train_classes=[1], streaming=True))
    assert stream.sizes() == memory.sizes() and bool((stream.train.y == 1).all())
    assert torch.equal(stream.train.x, memory.train.x)


def test_streaming_needs_no_memory_for_pixels(folder, monkeypatch):
    def refuse(nbytes, what, hint):
        raise ResourceError(f"{what} needs {nbytes} bytes; {hint}")

    monkeypatch.setattr("latentforge.data.memory.check_fits", refuse)
    with pytest.raises(ResourceError):
        load_data(_cfg(folder, grayscale=True))
    splits = load_data(_cfg(folder, grayscale=True, streaming=True))
    assert splits.train.batch(torch.arange(3)).shape == (3, 1, 10, 10)
    with pytest.raises(ResourceError, match="data.limit_eval"):
        splits.valid.x  # a whole split at once is still checked


def _state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _train(name, folder, run_dir, *extra, epochs=2):
    return latentforge.train(name, overrides=tiny_overrides(name, *_data(folder, *extra),
                                                            epochs=epochs), run_dir=run_dir)


def _same(a, b) -> None:
    sa, sb = _state(a.model), _state(b.model)
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    drop = ("time_s",)
    assert ([{k: v for k, v in r.items() if k not in drop} for r in a.history]
            == [{k: v for k, v in r.items() if k not in drop} for r in b.history])


@pytest.mark.parametrize("name", ["stacked_ae", "conv_ae"])
def test_training_is_bitwise_the_in_memory_run(name, folder, tmp_path):
    memory = _train(name, folder, False)
    for workers in (0, 2):
        stream = _train(name, folder, False, "data.streaming=true", f"data.workers={workers}")
        _same(memory, stream)
    other = _train(name, folder, False, "data.streaming=true", "data.split_seed=1")
    assert other.history[-1]["loss"] != memory.history[-1]["loss"]


def test_streaming_resume_equals_uninterrupted(folder, tmp_path):
    whole = _train("stacked_ae", folder, tmp_path / "whole")
    part = _train("stacked_ae", folder, tmp_path / "part", "data.streaming=true",
                  "data.workers=1", epochs=1)
    assert len(part.history) == 1
    resumed = latentforge.train("stacked_ae", run_dir=part.path, resume=True,
                                overrides=["train.epochs=2"])
    assert resumed.config.data.streaming is True
    _same(whole, resumed)
    assert latentforge.load_run(resumed.path).evaluate("valid") == whole.evaluate("valid")


def test_engine_feeds_only_this_ranks_slice(folder, monkeypatch):
    from latentforge.training import engine
    from latentforge.training.distributed import World

    seen = []
    real = StreamingData.batches

    def spy(self, index_batches, workers):
        seen.extend(torch.as_tensor(i).tolist() for i in index_batches)
        return real(self, index_batches, workers)

    monkeypatch.setattr(StreamingData, "batches", spy)
    splits = load_data(_cfg(folder, grayscale=True, streaming=True))
    trainer = engine.Trainer.__new__(engine.Trainer)
    trainer.world = World(rank=1, size=2)
    assert trainer.world.distributed
    perm = torch.arange(8)
    batches = [engine.dist.local_slice(perm[i:i + 4], trainer.world) for i in (0, 4)]
    list(engine.batches(splits.train, batches, torch.device("cpu")))
    assert seen == [[2, 3], [6, 7]]


def test_cli_train_writes_figures_and_report(folder, cli, in_tmp):
    argv = ["train", "conv_ae", *sum([["--set", o] for o in tiny_overrides(
        "conv_ae", *_data(folder, "data.streaming=true", "data.workers=1"), epochs=1)], [])]
    code, out, err = cli([*argv, "--name", "run"])
    run = in_tmp / "runs" / "run"
    assert code == 0, err
    assert "Traceback" not in err
    assert list((run / "figures").glob("*.png"))
    assert (run / "report.html").is_file()
    code, out, err = cli(["evaluate", run])
    assert code == 0, err


def test_bad_file_is_refused_in_one_line(folder, tmp_path, cli, in_tmp):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    (bad / "dog" / "broken.png").write_bytes(b"not a png at all")
    argv = ["train", "stacked_ae", *sum([["--set", o] for o in tiny_overrides(
        "stacked_ae", *_data(bad, "data.streaming=true"), epochs=1)], [])]
    code, _, err = cli(argv)
    assert code == 2
    assert_one_error_line(err, "broken.png", "not a readable image")


def test_streaming_refused_for_other_sources(cli, in_tmp):
    with pytest.raises(ConfigError, match="data.streaming"):
        load_data(DataConfig(source="digits", streaming=True))
    argv = ["train", "stacked_ae", *sum([["--set", o] for o in tiny_overrides(
        "stacked_ae", "data.streaming=true", epochs=1)], [])]
    code, _, err = cli(argv)
    assert code == 2
    assert_one_error_line(err, "data.streaming", "digits")


@pytest.mark.parametrize("field, value", [("streaming", "yes"), ("workers", -1)])
def test_bad_option_values_are_refused(folder, field, value):
    from latentforge.errors import DataError

    with pytest.raises(DataError, match=f"data.{field}"):
        load_data(DataConfig(source=str(folder), **{field: value}))
