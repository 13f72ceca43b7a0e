"""Commands that use runs, on the runs they cannot draw or cannot serve: runs trained on
table rows get table outputs or one error line (never a traceback, never a partial
output), models without a capability are refused naming the models that have it, Ctrl-C
says what it leaves, long commands show their phases on a terminal, and train counts
its figures."""
from __future__ import annotations

import io
import sys

import numpy as np
import pytest

from conftest import assert_one_error_line

TABLE = ["--set", "model.hidden=[8,4]", "--set", "train.batch_size=16", "--epochs", "1",
         "--no-progress", "-q"]
DIGITS = ["--data", "digits", "--set", "model.hidden=[16,4]", "--set", "data.limit_train=96",
          "--set", "data.limit_eval=40", "--set", "train.batch_size=16", "--epochs", "1",
          "--no-progress", "-q"]


def _table_file(path):
    rng = np.random.default_rng(0)
    x = rng.random((120, 6)).astype(np.float32)
    if path.suffix == ".npy":
        np.save(path, x)
    else:
        np.savetxt(path, x, delimiter=",", header=",".join(f"f{j}" for j in range(6)),
                   comments="", fmt="%.5f")
    return path


@pytest.fixture(scope="module", params=["csv", "npy"])
def table_run(request, tmp_path_factory):
    """A stacked_ae trained on a (120, 6) table (a .csv with a header, or a flat .npy)."""
    from latentforge.cli import main

    root = tmp_path_factory.mktemp(f"table-{request.param}")
    data = _table_file(root / f"t.{request.param}")
    assert main(["train", "stacked_ae", "--data", str(data), *TABLE, "--runs-dir",
                 str(root), "--name", "tab"]) == 0
    return root / "tab"


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    from latentforge.cli import main

    root = tmp_path_factory.mktemp("ae")
    assert main(["train", "stacked_ae", *DIGITS, "--runs-dir", str(root), "--name", "ae"]) == 0
    return root / "ae"


# ---------------------------------------------------------------- runs trained on tables

def test_reconstruct_of_a_table_writes_a_csv(cli, table_run):
    code, out, err = cli(["reconstruct", table_run, "--n", "3"])
    assert code == 0, err
    lines = (table_run / "reconstructions.csv").read_text().splitlines()
    assert lines[0].split(",")[:3] == ["item", "kind", "f0" if "csv" in str(table_run)
                                       else "0"]
    assert [line.split(",")[1] for line in lines[1:3]] == ["original", "reconstruction"]
    assert len(lines) == 1 + 2 * 3 and len(lines[1].split(",")) == 2 + 6


def test_reconstruct_of_a_table_refuses_a_png(cli, table_run, tmp_path):
    code, _, err = cli(["reconstruct", table_run, "--out", tmp_path / "r.png"])
    assert code == 2
    assert_one_error_line(err, "--out must end in .csv", "table rows")
    assert not (tmp_path / "r.png").exists()


def test_anomalies_of_a_table_write_the_csv_and_no_figure(cli, table_run, tmp_path):
    csv = tmp_path / "a.csv"
    code, out, err = cli(["anomalies", table_run, "--out", csv])
    assert code == 0, err
    assert "no figure: the items are table rows" in out and csv.is_file()
    assert not (table_run / "figures" / "anomalies.png").exists()


def test_anomalies_figure_of_a_table_is_refused_before_any_output(cli, table_run, tmp_path):
    csv = tmp_path / "a.csv"
    code, _, err = cli(["anomalies", table_run, "--out", csv, "--figure", tmp_path / "a.png"])
    assert code == 2
    assert_one_error_line(err, "anomalies --figure needs images", "table rows")
    assert not csv.exists()


def test_search_of_a_table_prints_the_neighbours_and_no_figure(cli, table_run):
    code, out, err = cli(["search", table_run, "--k", "3"])
    assert code == 0, err
    assert "no figure: the run's items are table rows" in out
    assert len([line for line in out.splitlines() if line[:4].strip().isdigit()]) == 3
    assert not (table_run / "figures" / "search.png").exists()


@pytest.mark.parametrize("argv,fragment", [
    (["search", "--out", "s.png"], "search --out needs images"),
    (["interpolate"], "interpolate needs images"),
    (["search", "--query", "q.png"], "search --query IMG needs images"),
    (["anomalies", "--data", "."], "Scoring image files needs images"),
])
def test_image_commands_on_a_table_are_one_error_line(cli, table_run, argv, fragment):
    code, _, err = cli([argv[0], table_run, *argv[1:]])
    assert code == 2
    assert_one_error_line(err, fragment, "table rows")


# ---------------------------------------------------------------- capabilities

@pytest.mark.parametrize("argv,fragment", [
    (["hashes"], "hashes needs a model with binary hash codes"),
    (["search", "--metric", "hamming"], "search --metric hamming needs a model with binary"),
])
def test_hash_commands_refuse_models_without_hashes(cli, ae_run, argv, fragment):
    code, out, err = cli([argv[0], ae_run, *argv[1:]])
    assert code == 2 and out == ""
    assert_one_error_line(err, fragment, "stacked_ae", "hashing_ae")
    assert not (ae_run / "figures" / "hash_grid.png").exists()


def test_hashes_of_a_hashing_run(cli, tmp_path):
    from latentforge.cli import main

    assert main(["train", "hashing_ae", *DIGITS, "--runs-dir", str(tmp_path),
                 "--name", "h"]) == 0
    code, out, err = cli(["hashes", tmp_path / "h", "--top", "2"])
    assert code == 0, err
    assert "distinct_hashes" in out and (tmp_path / "h" / "figures" / "hash_grid.png").is_file()


# ---------------------------------------------------------------- Ctrl-C

@pytest.mark.parametrize("command,expected", [
    ("map", "interrupted"), ("probe", "interrupted"),
    ("train", "interrupted: the last saved checkpoint is kept; continue with --resume")])
def test_ctrl_c_message_fits_the_command(cli, ae_run, monkeypatch, command, expected):
    from latentforge import cli as cli_module

    def interrupt(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli_module.COMMANDS, command, interrupt)
    argv = ["train", "stacked_ae"] if command == "train" else [command, ae_run]
    code, _, err = cli(argv)
    assert code == 130 and err.strip() == expected


# ---------------------------------------------------------------- progress

class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_probe_shows_its_phases_on_a_terminal(ae_run, monkeypatch):
    from latentforge.cli import main

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["probe", str(ae_run), "--k", "3", "-q"]) == 0
    shown = terminal.getvalue()
    for phase in ("encode train", "encode test", "logistic regression", "kNN"):
        assert f"probe: {phase}" in shown, shown


def test_map_shows_its_phases_on_a_terminal(ae_run, monkeypatch, tmp_path):
    from latentforge.cli import main

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["map", str(ae_run), "--method", "pca", "--n", "30", "--out",
                 str(tmp_path / "m.png"), "-q"]) == 0
    assert "map: encode" in terminal.getvalue() and "map: pca" in terminal.getvalue()


def test_no_progress_output_off_a_terminal(cli, ae_run):
    code, _, err = cli(["probe", ae_run, "--k", "3", "-q"])
    assert code == 0 and err == ""


# ---------------------------------------------------------------- train's figure count

def test_train_counts_sample_grids_and_pluralises(cli, tmp_path):
    gan = [a if a != "model.hidden=[16,4]" else "model.g_hidden=[16]" for a in DIGITS]
    code, out, err = cli(["train", "gan", *gan, "--runs-dir", tmp_path, "--name", "g"])
    assert code == 0, err
    assert "(2 figures in" in out  # learning curves + samples/epoch-001.png
    data = _table_file(tmp_path / "t.npy")
    code, out, err = cli(["train", "stacked_ae", "--data", data, *TABLE, "--runs-dir",
                          tmp_path, "--name", "t"])
    assert code == 0, err
    assert "(1 figure in" in out  # learning curves only: a table has no reconstructions
