"""`latentforge export RUN --format onnx` (`latentforge.tasks.export`): every part of every
registered model (and a conditional GAN) as an ONNX graph that onnxruntime runs like
PyTorch at any batch size, model.json describing it, the parts a model lacks never
written, and the command's errors (one line, exit 2; a full disk: exit 4).

The per-model test exports with the fast "torchscript" exporter (about 0.1 s a graph; the
default "auto" tries torch's dynamo exporter first, seconds a graph: see
test_the_default_exporter_* and the slow test_every_model_with_the_default_exporter);
where its graph fails the export's check (StyleGAN's traced ``len(ws)`` fixes the batch
size) it takes "dynamo". The PyTorch side is computed here from the models' public methods
(`encode`, `decode`, `generation.styles.decode_styles` for the style model's fixed noise),
not from the export's own modules.
"""
from __future__ import annotations

import errno
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import latentforge as lf
from conftest import assert_one_error_line, make_tiny_cfg, run_cli
from latentforge import registry
from latentforge.errors import RunError
from latentforge.evaluation.capabilities import can

ort = pytest.importorskip("onnxruntime")
from latentforge.tasks import export as ex  # noqa: E402

# case -> (model name, extra overrides): every registered model, plus labels as an input
CASES = {name: (name,) for name in registry.names()}
CASES["gan-conditional"] = ("gan", "model.conditional=true")
PART_OF = {"encoder": "encode", "decoder": "decode", "generator": "generate"}
TOL = 1e-4
PSI = 0.5  # the truncation a style model's generator is exported with


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """case -> its Run, trained on first use (one epoch, tiny preset, offline data)."""
    root = tmp_path_factory.mktemp("export-runs")
    runs = {}

    def get(case: str):
        if case not in runs:
            name, *extra = CASES[case]
            cfg = make_tiny_cfg(name, *extra, epochs=1)
            runs[case] = lf.train(cfg, run_dir=root / case)
        return runs[case]
    return get


@pytest.fixture
def cli(capsys, monkeypatch):
    """run_cli with the export command, also before cli/main.py lists it."""
    import importlib

    from latentforge.cli import export as export_cli

    cli_main = importlib.import_module("latentforge.cli.main")
    if "export" not in cli_main.COMMANDS:
        monkeypatch.setattr(cli_main, "ADDERS", (*cli_main.ADDERS, export_cli.add_export))
        monkeypatch.setitem(cli_main.COMMANDS, "export", export_cli.cmd_export)
    return lambda argv: run_cli([str(a) for a in argv], capsys)


def _inputs(model, session, batch: int, seed: int) -> dict[str, np.ndarray]:
    """A batch for each input of `session`, made here: images in [0, 1], codings N(0, I),
    labels cycling through the classes."""
    gen = torch.Generator().manual_seed(seed)
    feeds = {}
    for spec in session.get_inputs():
        if spec.name == "labels":
            feeds["labels"] = (torch.arange(batch) % model.cfg.n_classes).numpy()
        elif spec.name in ("images", "rows"):
            feeds[spec.name] = torch.rand(batch, *model.sample_shape, generator=gen).numpy()
        else:
            feeds[spec.name] = torch.randn(batch, model.coding_dim, generator=gen).numpy()
    return feeds


@torch.no_grad()
def _pytorch(model, part: str, feeds: dict, psi: float) -> np.ndarray:
    """What PyTorch gives for `part` on `feeds`, from the model's public methods."""
    from latentforge.generation.styles import decode_styles

    if part == "encoder":
        x = torch.from_numpy(next(iter(feeds.values())))
        return model.encode(x).numpy()
    z = torch.from_numpy(feeds.get("codings", feeds.get("z")))
    if can(model, "styles"):  # the export's fixed noise: decode_styles' seed-0 maps
        w = model.mapping(z)
        return decode_styles(model, model.truncate(w, psi) if part == "generator" else w).numpy()
    if "labels" in feeds:
        return model.decode(z, torch.from_numpy(feeds["labels"])).numpy()
    return model.decode(z).numpy()


def _export_fast(run, out: Path, **kwargs):
    """export_run with the torchscript exporter, or dynamo where the export's check
    refuses torchscript's graph (a batch size frozen by tracing)."""
    try:
        return ex.export_run(run, out=out, exporter="torchscript", **kwargs)
    except RunError as exc:
        assert "batch size is fixed" in str(exc), exc
        return ex.export_run(run, out=out, exporter="dynamo", **kwargs)


def _check_parts(run, out: Path, info: dict, psi: float = 1.0) -> None:
    """Every part the model can run is in model.json and on disk, no other; each runs in
    onnxruntime at batches 2 and 5 like PyTorch, with the inputs, outputs and ranges
    model.json says."""
    model = run.model
    expected = [part for part in ex.PARTS if can(model, PART_OF[part])]
    assert list(info["parts"]) == expected
    for part in ex.PARTS:
        assert (out / f"{part}.onnx").is_file() == (part in expected), part
    assert not list(out.glob(".*.tmp"))
    for part, entry in info["parts"].items():
        session = ort.InferenceSession(str(out / entry["file"]),
                                       providers=["CPUExecutionProvider"])
        types = {"float32": "tensor(float)", "int64": "tensor(int64)"}
        got = [(i.name, i.shape, i.type) for i in session.get_inputs()]
        said = [(i["name"], i["shape"], types[i["dtype"]]) for i in entry["inputs"]]
        assert got == said, part  # the batch axis is named "batch" in both
        got = [(o.name, o.shape) for o in session.get_outputs()]
        assert got == [(o["name"], o["shape"]) for o in entry["outputs"]], part
        assert entry["max_abs_diff"] <= TOL
        for seed, batch in enumerate((2, 5)):
            feeds = _inputs(model, session, batch, seed)
            got = session.run(None, feeds)[0]
            want = _pytorch(model, part, feeds, psi)
            assert got.shape == want.shape == (batch, *entry["outputs"][0]["shape"][1:])
            assert float(np.abs(got - want).max()) <= TOL, (part, batch)
            low, high = entry["outputs"][0]["range"]
            if low is not None:
                assert got.min() >= low and got.max() <= high


# ---------------------------------------------------------------- every model


@pytest.mark.parametrize("case", CASES)
def test_every_part_runs_in_onnxruntime_like_pytorch(case, trained, tmp_path):
    run = trained(case)
    model = run.model
    psi = PSI if can(model, "styles") else None
    result = _export_fast(run, tmp_path / "onnx", truncation=psi)
    info = json.loads(result.manifest.read_text())
    assert info == result.info
    assert info["model"] == CASES[case][0] and info["format"] == "onnx"
    assert info["opset"] >= 17 and info["sample_shape"] == list(model.sample_shape)
    assert info["coding_dim"] == model.coding_dim
    # digits name their classes "0".."9"; synthetic3d has none
    assert info["class_names"] == (None if run.config.data.source == "synthetic3d"
                                   else [str(k) for k in range(10)])
    _check_parts(run, tmp_path / "onnx", info, psi or 1.0)
    parts = info["parts"]
    if "labels" in [i["name"] for i in parts.get("decoder", {"inputs": []})["inputs"]]:
        assert parts["decoder"]["inputs"][1]["range"] == [0, model.cfg.n_classes - 1]
    if "generator" in parts:
        assert parts["generator"]["inputs"][0]["name"] == "z"
        assert parts["generator"]["inputs"][0]["distribution"] == "normal(0, 1)"
    if can(model, "styles"):
        assert parts["generator"]["truncation"] == PSI and parts["decoder"]["truncation"] == 1
    if "encoder" in parts:
        assert parts["encoder"]["inputs"][0]["range"] == [0.0, 1.0]


@pytest.mark.parametrize("case, parts", [("stacked_ae", ["encoder", "decoder"]),
                                         ("vae", ["encoder", "decoder", "generator"]),
                                         ("gan", ["decoder", "generator"])])
def test_the_parts_follow_the_capabilities(case, parts, trained):
    """An autoencoder has no generator, a GAN no encoder, a VAE all three."""
    assert ex.exportable_parts(trained(case).model) == parts


def test_a_vae_encoder_gives_the_posterior_mean(trained, tmp_path):
    run = trained("vae")
    ex.export_run(run, out=tmp_path, exporter="torchscript")
    session = ort.InferenceSession(str(tmp_path / "encoder.onnx"))
    x = torch.rand(4, *run.model.sample_shape)
    mean, _ = run.model.posterior(x)
    got = session.run(None, {"images": x.numpy()})[0]
    assert np.abs(got - mean.detach().numpy()).max() <= TOL


# ---------------------------------------------------------------- the default exporter


@pytest.mark.parametrize("case", ["vae", "progan"])
def test_the_default_exporter_is_dynamo_with_torchscript_where_dynamo_cannot(
        case, trained, tmp_path):
    """vae: every part by dynamo, the generator is the decoder's graph with its input
    renamed; progan: dynamo refuses its growth level read from a buffer, torchscript
    exports it, and model.json says why."""
    run = trained(case)
    result = ex.export_run(run, out=tmp_path)
    _check_parts(run, tmp_path, result.info)
    parts = result.info["parts"]
    if case == "vae":
        assert {p["exporter"] for p in parts.values()} == {"dynamo"}
    else:
        for entry in parts.values():
            assert entry["exporter"] == "torchscript"
            assert entry["not_exported_by"][0].startswith("dynamo: ")
    assert parts["generator"]["max_abs_diff"] == parts["decoder"]["max_abs_diff"]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_every_model_with_the_default_exporter(case, trained, tmp_path):
    run = trained(case)
    result = ex.export_run(run, out=tmp_path)
    _check_parts(run, tmp_path, result.info)


# ---------------------------------------------------------------- the command


def test_the_command_writes_run_onnx_and_says_what(cli, trained):
    run = trained("stacked_ae")
    code, out, err = cli(["export", run.path, "--format", "onnx", "--exporter",
                          "torchscript"])
    assert code == 0, err
    folder = run.path / "onnx"
    assert sorted(p.name for p in folder.iterdir()) == ["decoder.onnx", "encoder.onnx",
                                                        "model.json"]
    lines = out.strip().splitlines()
    assert lines[-1] == f"wrote {folder / 'model.json'}"
    assert lines[0].startswith(f"wrote {folder / 'encoder.onnx'} (encoder, torchscript")
    # again into the same folder: an earlier export is replaced
    assert cli(["export", run.path, "--exporter", "torchscript"])[0] == 0


def test_a_second_export_into_the_folder_removes_parts_it_lacks(trained, tmp_path):
    ex.export_run(trained("vae"), out=tmp_path, exporter="torchscript")
    assert (tmp_path / "encoder.onnx").is_file()
    result = ex.export_run(trained("gan"), out=tmp_path, exporter="torchscript")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decoder.onnx", "generator.onnx",
                                                          "model.json"]
    assert result.info["model"] == "gan"


@pytest.mark.parametrize("argv, fragments", [
    (["--format", "tflite"], ["Unknown export format 'tflite'", "onnx"]),
    (["--exporter", "jit"], ["Unknown exporter 'jit'", "auto, dynamo, torchscript"]),
    (["--truncation", "0.7"], ["needs a model with a style space", "stylegan"]),
])
def test_bad_options_are_one_error_line(cli, trained, argv, fragments):
    run = trained("stacked_ae")
    code, out, err = cli(["export", run.path, *argv, "--out", run.path / "never"])
    assert code == 2 and not out
    assert_one_error_line(err, *fragments)
    assert not (run.path / "never").exists()


def test_a_missing_run_is_one_error_line(cli, tmp_path):
    code, _, err = cli(["export", tmp_path / "nope", "--format", "onnx"])
    assert code == 2
    assert_one_error_line(err, "nope")


def test_a_model_without_any_part_is_refused(cli, trained, monkeypatch):
    run = trained("gan")
    monkeypatch.setattr(type(run.model), "CAPABILITIES", frozenset({"discriminate"}))
    code, _, err = cli(["export", run.path])
    assert code == 2
    assert_one_error_line(err, "holds a gan", "no encoder, decoder or generator")
    assert not (run.path / "onnx").exists()


def test_without_the_onnx_extra_the_command_says_what_to_install(cli, trained, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # find_spec: not installed
    code, _, err = cli(["export", trained("stacked_ae").path])
    assert code == 2
    assert_one_error_line(err, "onnxruntime", "pip install 'latentforge[onnx]'")


@pytest.mark.parametrize("what", ["a file", "model.json not written by export",
                                  "other files"])
def test_an_output_that_is_not_an_export_is_refused(cli, trained, tmp_path, what):
    out = tmp_path / "out"
    if what == "a file":
        out.write_text("x")
    else:
        out.mkdir()
        name = "model.json" if what.startswith("model.json") else "notes.txt"
        (out / name).write_text('{"mine": 1}')
    before = sorted(p.name for p in out.iterdir()) if out.is_dir() else None
    code, _, err = cli(["export", trained("stacked_ae").path, "--out", out])
    assert code == 2
    assert_one_error_line(err, str(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (sorted(p.name for p in out.iterdir()) if out.is_dir() else None) == before


def test_a_full_disk_is_exit_4_and_leaves_no_partial_file(cli, trained, tmp_path,
                                                          monkeypatch):
    """ENOSPC while decoder.onnx is written over an earlier export: one error line, exit
    4, no temp file, and no model.json (the folder holds no complete export)."""
    run = trained("stacked_ae")
    out = tmp_path / "onnx"
    ex.export_run(run, out=out, exporter="torchscript")
    real = Path.write_bytes

    def full(self, data):
        if self.name.startswith(".decoder.onnx."):
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, data)

    with monkeypatch.context() as patch:
        patch.setattr(Path, "write_bytes", full)
        code, _, err = cli(["export", run.path, "--out", out, "--exporter", "torchscript"])
    assert code == 4
    assert_one_error_line(err, "disk is full", "decoder.onnx")
    assert sorted(p.name for p in out.iterdir()) == ["decoder.onnx", "encoder.onnx"]
    assert ex.read_manifest(out) is None
    # room again: the same command completes the folder, also past a killed write's file
    (out / ".decoder.onnx.killed.tmp").write_bytes(b"half")
    assert cli(["export", run.path, "--out", out, "--exporter", "torchscript"])[0] == 0
    assert sorted(p.name for p in out.iterdir()) == ["decoder.onnx", "encoder.onnx",
                                                     "model.json"]
