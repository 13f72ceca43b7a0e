"""CLI tests through `latentforge.cli.main(argv)`: every command on tiny digits runs, and
every kind of bad input gives one ``error: ...`` line on stderr and exit code 2 (3 when
training diverged), never a traceback."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import assert_one_error_line, run_cli
from latentforge.registry import names

TINY = ["--data", "digits", "--set", "model.hidden=[16,4]", "--set", "data.limit_train=96",
        "--set", "data.limit_eval=40", "--set", "train.batch_size=16", "--no-progress"]


def _train_argv(runs_dir, *extra, model="stacked_ae", epochs=1):
    return ["train", model, *TINY, "--epochs", str(epochs), "--runs-dir", str(runs_dir), *extra]


def _epochs(run_dir) -> list[int]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["epoch"] for line in lines if line.strip()]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny stacked_ae run (1 epoch, digits) shared by the read-only commands."""
    from latentforge.cli import main

    runs = tmp_path_factory.mktemp("runs")
    assert main(_train_argv(runs, "--name", "shared")) == 0
    return runs / "shared"


# ---------------------------------------------------------------- models / config

def test_models_lists_every_registered_model(cli):
    code, out, err = cli(["models"])
    assert code == 0
    listed = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert listed == names()
    assert {"stacked_ae", "linear_ae"} <= set(listed)
    assert "recipes: book" in out


def test_config_prints_resolved_json(cli):
    code, out, _ = cli(["config", "stacked_ae"])
    assert code == 0
    cfg = json.loads(out)
    assert cfg["model_name"] == "stacked_ae" and cfg["recipe"] == "book"
    assert cfg["train"]["lr"] == 1.5
    assert cfg["model"]["hidden"] == [100, 30]


def test_config_with_file_and_set(cli, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[train]\nepochs = 4\nlr = 0.5\n")
    code, out, _ = cli(["config", "linear_ae", "--recipe", "fast", "--config", path,
                        "--set", "train.lr=0.25"])
    assert code == 0
    cfg = json.loads(out)
    assert (cfg["recipe"], cfg["train"]["epochs"], cfg["train"]["lr"]) == ("fast", 4, 0.25)


# ---------------------------------------------------------------- train and use a run

def test_train_writes_a_complete_run(cli, tmp_path):
    code, out, err = cli(_train_argv(tmp_path / "runs", epochs=2))
    assert code == 0, err
    run = tmp_path / "runs" / "stacked_ae-book"
    for f in ("config.json", "model.safetensors", "metrics.jsonl"):
        assert (run / f).is_file(), f
    pngs = sorted(p.name for p in (run / "figures").glob("*.png"))
    assert pngs == ["learning_curves.png", "reconstructions.png"]
    assert all((run / "figures" / p).read_bytes().startswith(b"\x89PNG") for p in pngs)
    assert _epochs(run) == [1, 2]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["hidden"] == [16, 4]
    assert cfg["data"]["source"] == "digits"
    assert cfg["train"]["epochs"] == 2 and cfg["train"]["progress"] is False
    assert "val_loss" in out and f"run saved in {run}" in out


def test_train_default_runs_dir_is_cwd_runs(cli, in_tmp):
    argv = ["train", "linear_ae", "--set", "data.limit_train=30", "--epochs", "1",
            "--no-progress", "--name", "lin"]
    code, _, err = cli(argv)
    assert code == 0, err
    assert (in_tmp / "runs" / "lin" / "model.safetensors").is_file()
    assert (in_tmp / "runs" / "lin" / "figures" / "learning_curves.png").is_file()


def test_evaluate_prints_rows_and_writes_json(cli, trained):
    code, out, err = cli(["evaluate", trained])
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split() == ["split", "loss", "rounded_accuracy"]
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in lines[1:]}
    assert set(rows) == {"valid", "test"}
    saved = json.loads((trained / "evaluation.json").read_text())
    assert set(saved) == {"valid", "test"}
    for split, (loss, acc) in rows.items():
        assert loss == pytest.approx(saved[split]["loss"], abs=1e-4)
        assert acc == pytest.approx(saved[split]["rounded_accuracy"], abs=1e-4)
        assert 0 < acc <= 1 and loss > 0


def test_evaluate_one_split(cli, trained):
    code, out, _ = cli(["evaluate", trained, "--split", "train"])
    assert code == 0
    assert [line.split()[0] for line in out.strip().splitlines()[1:]] == ["train"]


def test_reconstruct_writes_png(cli, trained, tmp_path):
    out_png = tmp_path / "x.png"
    code, out, err = cli(["reconstruct", trained, "--n", "3", "--out", out_png])
    assert code == 0, err
    assert out_png.read_bytes().startswith(b"\x89PNG")
    assert str(out_png) in out


def test_encode_writes_codings_and_labels(cli, trained, tmp_path):
    out_npy = tmp_path / "c.npy"
    code, out, err = cli(["encode", trained, "--out", out_npy])
    assert code == 0, err
    codings = np.load(out_npy)
    labels = np.load(tmp_path / "c.labels.npy")
    assert codings.shape == (40, 4)          # limit_eval test items, coding size 4
    assert codings.dtype == np.float32 and np.isfinite(codings).all()
    assert labels.shape == (40,) and labels.dtype == np.int64
    assert set(labels.tolist()) <= set(range(10))
    # the codings are the loaded model's
    import latentforge

    run = latentforge.load_run(trained)
    expected = run.encode(run.split("test").batch(torch.arange(40))).numpy()
    np.testing.assert_array_equal(codings, expected)
    np.testing.assert_array_equal(labels, run.split("test").y.numpy())


def test_encode_default_output_path(cli, trained):
    code, _, _ = cli(["encode", trained, "--split", "valid"])
    assert code == 0
    assert np.load(trained / "codings-valid.npy").shape == (40, 4)


def test_existing_run_refused_then_overwrite_and_resume(cli, tmp_path):
    runs = tmp_path / "runs"
    assert cli(_train_argv(runs))[0] == 0
    run = runs / "stacked_ae-book"
    weights = (run / "model.safetensors").read_bytes()

    code, _, err = cli(_train_argv(runs))
    assert code == 2
    assert_one_error_line(err, "already exists", "--resume", "--overwrite")
    assert (run / "model.safetensors").read_bytes() == weights   # untouched

    code, _, err = cli(_train_argv(runs, "--overwrite", "--set", "train.seed=3"))
    assert code == 0, err
    assert _epochs(run) == [1]
    assert (run / "model.safetensors").read_bytes() != weights
    assert json.loads((run / "config.json").read_text())["train"]["seed"] == 3

    code, out, err = cli(["train", "stacked_ae", "--runs-dir", runs, "--resume",
                          "--epochs", "3", "--no-progress"])
    assert code == 0, err
    assert _epochs(run) == [1, 2, 3]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["epochs"] == 3
    assert cfg["train"]["seed"] == 3 and cfg["data"]["source"] == "digits"  # kept


def test_resume_of_another_model_is_refused(cli, trained):
    code, _, err = cli(["train", "linear_ae", "--runs-dir", trained.parent, "--name",
                        trained.name, "--resume", "--no-progress"])
    assert code == 2
    assert_one_error_line(err, "stacked_ae run, not linear_ae")


def test_resume_without_run_is_refused(cli, tmp_path):
    code, _, err = cli(["train", "stacked_ae", "--runs-dir", tmp_path, "--resume"])
    assert code == 2
    assert_one_error_line(err, "not a latentforge run directory")


def test_divergence_exit_code_3(cli, tmp_path):
    code, _, err = cli(_train_argv(tmp_path, "--set", "train.lr=1e30"))
    assert code == 3
    assert_one_error_line(err, "diverged", "Lower train.lr")


# ---------------------------------------------------------------- bad input: exit 2

@pytest.fixture
def bad_inputs(tmp_path):
    """Broken data files and folders."""
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 definitely not a zip archive")
    nan = tmp_path / "nan.npy"
    arr = np.random.default_rng(0).random((30, 8, 8)).astype(np.float32)
    arr[3, 2, 1] = np.nan
    np.save(nan, arr)
    nan_npz = tmp_path / "nan.npz"
    np.savez(nan_npz, x=arr, y=np.zeros(30, dtype=np.int64))
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    return {"corrupt": corrupt, "nan": nan, "nan_npz": nan_npz, "empty": empty}


@pytest.mark.parametrize("argv,fragments", [
    (["train", "stacked_a", "--data", "digits"], ["Unknown model 'stacked_a'",
                                                  "Did you mean 'stacked_ae'"]),
    (["config", "stacked_a"], ["Did you mean 'stacked_ae'"]),
    (["train", "stacked_ae", "--recipe", "nope"], ["no recipe 'nope'"]),
    (["config", "stacked_ae", "--recipe", "nope"], ["no recipe 'nope'"]),
    (["train", "stacked_ae", "--set", "train.epochs=abc"], ["should be int"]),
    (["train", "stacked_ae", "--set", "train.epochs"], ["section.key=value"]),
    (["train", "stacked_ae", "--set", "nope.x=1"], ["section one of"]),
    (["train", "stacked_ae", "--set", "train.nope=1"], ["unknown key 'train.nope'"]),
    (["config", "stacked_ae", "--config", "missing.json"], ["missing.json", "does not exist"]),
    (["train", "stacked_ae", "--config", "missing.toml"], ["missing.toml", "does not exist"]),
    (["train", "stacked_ae", "--data", "/nonexistent/data.npz"], ["Unknown data source",
                                                                  "/nonexistent/data.npz"]),
    (["train", "stacked_ae", "--data", "digits", "--set", "model.hidden=[0]"],
     ["model.hidden"]),
    (["train", "stacked_ae", "--data", "digits", "--set", "train.optimizer=sgdd",
      "--set", "data.limit_train=20"], ["Unknown optimizer 'sgdd'"]),
    (["train", "stacked_ae", "--data", "digits", "--set", "data.valid_fraction=2"],
     ["data.valid_fraction"]),
])
def test_bad_train_or_config_input(cli, in_tmp, argv, fragments):
    code, out, err = cli([*argv, "--no-progress"] if argv[0] == "train" else argv)
    assert code == 2
    assert_one_error_line(err, *fragments)


@pytest.mark.parametrize("key,fragments", [
    ("corrupt", ["corrupt.npz", "not a readable .npz file"]),
    ("nan", ["nan.npy", "NaN"]),
    ("nan_npz", ["nan.npz", "NaN"]),
    ("empty", ["empty_folder", "no image files"]),
])
def test_bad_data_source(cli, in_tmp, bad_inputs, key, fragments):
    code, _, err = cli(["train", "stacked_ae", "--data", bad_inputs[key], "--epochs", "1",
                        "--no-progress"])
    assert code == 2
    assert_one_error_line(err, *fragments)
    assert not (in_tmp / "runs").exists() or not any((in_tmp / "runs").iterdir())


@pytest.mark.parametrize("command", [["evaluate"], ["encode"], ["reconstruct", "--n", "2"],
                                     ["map"], ["probe"], ["pretrain-classifier"], ["hashes"]])
def test_missing_run_dir(cli, tmp_path, command):
    code, _, err = cli([command[0], tmp_path / "no_such_run", *command[1:]])
    assert code == 2
    assert_one_error_line(err, "no_such_run", "not a latentforge run directory")


@pytest.mark.parametrize("command", [["evaluate"], ["encode"], ["reconstruct"], ["map"],
                                     ["probe"], ["pretrain-classifier"]])
def test_run_dir_without_weights(cli, trained, tmp_path, command):
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.json").write_text((trained / "config.json").read_text())
    code, _, err = cli([command[0], half])
    assert code == 2
    assert_one_error_line(err, "has no model.safetensors")


def test_corrupt_weights(cli, trained, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((trained / "config.json").read_text())
    (broken / "model.safetensors").write_bytes(b"\x00" * 64)
    code, _, err = cli(["evaluate", broken])
    assert code == 2
    assert_one_error_line(err, "error: ")
    assert not (broken / "evaluation.json").exists()


def test_corrupt_config_json(cli, tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    code, _, err = cli(["evaluate", tmp_path])
    assert code == 2
    assert_one_error_line(err, "not valid JSON")


@pytest.mark.parametrize("n", ["0", "-2"])
def test_reconstruct_n_must_be_positive(cli, trained, tmp_path, n):
    code, _, err = cli(["reconstruct", trained, "--n", n, "--out", tmp_path / "r.png"])
    assert code == 2
    assert_one_error_line(err, "--n must be at least 1")
    assert not (tmp_path / "r.png").exists()


def test_encode_out_must_be_npy(cli, trained, tmp_path):
    code, _, err = cli(["encode", trained, "--out", tmp_path / "foo.txt"])
    assert code == 2
    assert_one_error_line(err, "--out must end in .npy", "foo.txt")
    assert not (tmp_path / "foo.txt").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_device_cuda_without_gpu(cli, tmp_path):
    code, _, err = cli(_train_argv(tmp_path, "--device", "cuda"))
    assert code == 2
    assert_one_error_line(err, "no CUDA GPU is available")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_device_error_leaves_no_run_behind(cli, tmp_path):
    assert cli(_train_argv(tmp_path, "--device", "cuda"))[0] == 2
    code, _, err = cli(_train_argv(tmp_path, "--device", "cpu"))
    assert code == 0, err


@pytest.mark.parametrize("setting", ["train.batch_size=0", "train.eval_batch_size=0",
                                     "train.epochs=-1", "train.threads=0"])
def test_nonpositive_train_values_are_config_errors(cli, tmp_path, setting):
    argv = ["train", "stacked_ae", *TINY, "--runs-dir", str(tmp_path), "--set", setting]
    code, _, err = cli(argv)
    assert code == 2
    assert_one_error_line(err, setting.split("=")[0], "must be at least")
    assert not (tmp_path / "stacked_ae-book").exists()


def test_optimizer_cannot_change_on_resume(cli, tmp_path):
    assert cli(_train_argv(tmp_path))[0] == 0
    code, _, err = cli(_train_argv(tmp_path, "--resume", "--set", 'train.optimizer="adam"',
                                   epochs=2))
    assert code == 2
    assert_one_error_line(err, "optimizer cannot change on resume")
    assert _epochs(tmp_path / "stacked_ae-book") == [1]


def test_config_file_with_resume_is_refused(cli, tmp_path):
    assert cli(_train_argv(tmp_path))[0] == 0
    cfg = tmp_path / "c.json"
    cfg.write_text('{"train": {"epochs": 3}}')
    code, _, err = cli(_train_argv(tmp_path, "--resume", "--config", str(cfg)))
    assert code == 2
    assert_one_error_line(err, "--config cannot be combined with --resume")


def test_failed_overwrite_keeps_old_run(cli, tmp_path):
    assert cli(_train_argv(tmp_path))[0] == 0
    code, _, _ = cli(_train_argv(tmp_path, "--overwrite", "--data", tmp_path / "typo.npz"))
    assert code == 2
    assert (tmp_path / "stacked_ae-book" / "model.safetensors").is_file()


def test_data_path_with_backslash(cli, tmp_path):
    folder = tmp_path / "we\\ird"
    folder.mkdir()
    np.save(folder / "d.npy", np.random.default_rng(0).random((40, 8, 8)).astype(np.float32))
    code, _, err = cli(["train", "stacked_ae", "--data", folder / "d.npy", "--epochs", "1",
                        "--set", "model.hidden=[4,2]", "--no-progress", "--runs-dir", tmp_path])
    assert code == 0, err


def test_argparse_usage_error_exit_2(cli):
    code, _, err = cli(["train"])
    assert code == 2 and "usage:" in err


# ---------------------------------------------------------------- the real executable

def _python(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=120, **kwargs)


def test_module_help_and_version():
    import latentforge

    helped = _python("-m", "latentforge.cli", "--help")
    assert helped.returncode == 0, helped.stderr
    for command in ("models", "config", "train", "evaluate", "reconstruct", "encode"):
        assert command in helped.stdout
    version = _python("-m", "latentforge.cli", "--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"latentforge {latentforge.__version__}"


def test_help_imports_no_heavy_library():
    code = ("import sys\nfrom latentforge.cli import main\n"
            "for argv in (['--help'], ['train', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('torch', 'matplotlib', 'sklearn', 'numpy') "
            "if m in sys.modules))")
    done = _python("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_real_process_error_is_one_line(tmp_path):
    done = _python("-m", "latentforge.cli", "train", "stacked_ae", "--set", "train.epochs=x",
                   cwd=tmp_path)
    assert done.returncode == 2
    assert_one_error_line(done.stderr, "should be int")


def test_ctrl_c_is_one_line_and_a_launched_rank_leaves_it_to_its_launcher(
        monkeypatch, capsys):
    import sys

    from latentforge.cli import rank_errors

    cli_main = sys.modules["latentforge.cli.main"]  # the module (the package exports main())

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli_main.COMMANDS, "models", interrupted)
    monkeypatch.delenv(rank_errors.ENV, raising=False)
    code, _, err = run_cli(["models"], capsys)
    assert code == 130 and err.strip() == "interrupted"
    monkeypatch.setenv(rank_errors.ENV, "/nonexistent")  # a rank under train --nproc
    code, _, err = run_cli(["models"], capsys)
    assert code == 130 and err == ""
