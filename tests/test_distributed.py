"""Several processes, one run (training/distributed.py): torchrun on CPU with gloo.

The multi-process tests launch real torchrun jobs on 127.0.0.1 (2 processes, tiny data):
one launch with 2 processes, two launches acting as two nodes, and `train --nproc 2` (also
with a rank that fails: one error line back); the launcher's handling of crashed ranks
runs torchrun in the test process with `sh` as the ranks (cli/rank_errors.py).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from latentforge import rundir
from latentforge.errors import ConfigError
from latentforge.training.distributed import World, check_batch, local_slice, share

WORKER = Path(__file__).with_name("distributed_worker.py")
TINY = ['data.source="digits"', "model.hidden=[16,4]", "train.progress=false",
        "data.limit_train=96", "data.limit_eval=40", "train.batch_size=16",
        'train.device="cpu"', "train.epochs=2"]  # 6 global batches an epoch
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


# ---------------------------------------------------------------- the world

def test_world_from_env():
    assert World.from_env({}) == World(0, 1, 0)
    world = World.from_env({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"})
    assert (world.rank, world.size, world.local_rank, world.is_main) == (3, 4, 1, False)
    assert world.distributed and not World().distributed
    for bad in ({"RANK": "4", "WORLD_SIZE": "4"}, {"RANK": "x", "WORLD_SIZE": "2"},
                {"RANK": "0", "WORLD_SIZE": "0"}):
        with pytest.raises(ConfigError):
            World.from_env(bad)


def test_each_rank_takes_its_consecutive_slice_of_the_global_batch():
    idx = torch.arange(10, 20)
    parts = [local_slice(idx, World(r, 2)) for r in range(2)]
    assert torch.equal(torch.cat(parts), idx) and [len(p) for p in parts] == [5, 5]
    last = torch.arange(3)  # an epoch's last, smaller batch: as even as it goes
    assert [len(local_slice(last, World(r, 2))) for r in range(2)] == [2, 1]
    assert [share(last, World(r, 2)) for r in range(2)] == [2 / 3, 1 / 3]
    assert share(torch.arange(1), World(1, 2)) == 0.0  # smaller than the world: skipped
    assert torch.equal(local_slice(idx, World()), idx)


def test_a_global_batch_that_does_not_split_is_refused():
    check_batch(32, World(0, 4))
    with pytest.raises(ConfigError, match="split evenly over the 3 processes.*multiple of 3"):
        check_batch(32, World(0, 3))


# ---------------------------------------------------------------- real torchrun jobs

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(*args: str, nproc: int = 2, timeout: int = 240, extra=()) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}",
           *extra, *args]
    if not extra:
        cmd[4:4] = ["--standalone"]
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]


def _worker(out: Path, model: str, *overrides: str, nproc: int | None = 2) -> list[dict]:
    """Every rank's weights after training `model` in memory (nproc None: plain python)."""
    out.mkdir(parents=True, exist_ok=True)
    args = [str(WORKER), str(out), model, *overrides]
    if nproc is None:
        done = subprocess.run([sys.executable, *args], env=ENV, capture_output=True,
                              text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-3000:]
        return [load_file(str(out / "rank0.safetensors"))]
    _torchrun(*args, nproc=nproc)
    return [load_file(str(out / f"rank{r}.safetensors")) for r in range(nproc)]


def _max_diff(a: dict, b: dict) -> float:
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a
               if a[k].is_floating_point())


def _assert_ranks_identical(ranks: list[dict]) -> None:
    for k, v in ranks[0].items():
        assert all(torch.equal(v, other[k]) for other in ranks[1:]), k


def test_two_processes_equal_one_with_the_same_global_batch_sgd(tmp_path):
    """The stacked AE's book recipe (plain SGD): 12 steps of a global batch of 16 split
    over 2 gloo processes give the one-process weights within 1e-6."""
    two = _worker(tmp_path / "two", "stacked_ae", *TINY)
    _assert_ranks_identical(two)
    one = _worker(tmp_path / "one", "stacked_ae", *TINY, nproc=None)[0]
    assert _max_diff(two[0], one) <= 1e-6


def test_two_processes_equal_one_with_adam(tmp_path):
    """conv_ae with Adam, 12 steps: the float32 sums come in another order; measured max
    |difference| 3e-8, asserted within 1e-6 (the SGD one above: 3e-7)."""
    from conftest import tiny_overrides

    overrides = tiny_overrides("conv_ae", 'train.optimizer="adam"', "train.lr=0.001")
    two = _worker(tmp_path / "two", "conv_ae", *overrides)
    _assert_ranks_identical(two)
    one = _worker(tmp_path / "one", "conv_ae", *overrides, nproc=None)[0]
    assert _max_diff(two[0], one) <= 1e-6


def test_a_gan_trains_in_step_on_two_processes(tmp_path):
    """A GAN's ranks draw their own codings and dropout (rank 0 keeps the one-process
    stream) and batch-normalise their own half, so the weights are not the one-process
    ones: both networks (and rank 0's batch-norm statistics) are identical on every rank,
    and within 0.1 of the one-process run (measured max |difference| 0.027 after 12
    steps of the tiny dcgan)."""
    from conftest import tiny_overrides

    overrides = tiny_overrides("dcgan")
    two = _worker(tmp_path / "two", "dcgan", *overrides)
    _assert_ranks_identical(two)
    one = _worker(tmp_path / "one", "dcgan", *overrides, nproc=None)[0]
    assert _max_diff(two[0], one) <= 0.1


def _cli(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "latentforge", *args], env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def _weights(run: Path) -> dict:
    return load_file(str(rundir.weights_path(run)))


def test_resume_under_two_processes_is_bitwise_and_nproc_runs_torchrun(tmp_path):
    base = ["train", "stacked_ae", *[a for o in TINY for a in ("--set", o)],
            "--runs-dir", str(tmp_path), "--nproc", "2", "-q"]
    whole = _cli(*base, "--name", "whole", "--epochs", "3")
    assert whole.returncode == 0, whole.stderr[-3000:]
    assert [r["epoch"] for r in rundir.read_history(tmp_path / "whole")] == [1, 2, 3]
    part = _cli(*base, "--name", "part", "--epochs", "1")
    assert part.returncode == 0, part.stderr[-3000:]
    resumed = _cli("train", "stacked_ae", "--resume", "--runs-dir", str(tmp_path),
                   "--name", "part", "--epochs", "3", "--nproc", "2", "-q")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "part")
    assert all(torch.equal(a[k], b[k]) for k in a)
    untimed = [[{k: v for k, v in r.items() if k != "time_s"}
                for r in rundir.read_history(tmp_path / name)] for name in ("whole", "part")]
    assert untimed[0] == untimed[1]


def test_two_nodes_on_localhost_equal_one_two_process_launch(tmp_path):
    """Two torchrun launches, one process each, meeting by c10d rendezvous (as two
    machines would) train the same weights as one launch with 2 processes."""
    two = _worker(tmp_path / "one-launch", "stacked_ae", *TINY)
    out = tmp_path / "two-nodes"
    out.mkdir()
    port = _free_port()
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
         "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}", "--rdzv-id=lf-test",
         str(WORKER), str(out), "stacked_ae", *TINY],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(2)]
    try:
        codes = [(p.wait(timeout=240), p.stderr.read()[-2000:]) for p in nodes]
    finally:
        for p in nodes:
            p.kill()
    assert [c for c, _ in codes] == [0, 0], codes
    ranks = [load_file(str(out / f"rank{r}.safetensors")) for r in range(2)]
    _assert_ranks_identical(ranks)
    assert all(torch.equal(ranks[0][k], two[0][k]) for k in two[0])


def test_a_batch_that_does_not_split_gets_one_error_line(tmp_path):
    done = _cli("train", "stacked_ae", *[a for o in TINY for a in ("--set", o)],
                "--set", "train.batch_size=15", "--runs-dir", str(tmp_path), "--nproc", "2")
    assert done.returncode != 0
    assert "train.batch_size = 15 is the global batch and must split evenly" in done.stderr
    assert not (tmp_path / "stacked_ae-book").exists()


def test_an_error_in_the_ranks_comes_back_as_one_line_and_its_exit_code(tmp_path):
    """Rank 0 finds the run locked by another process (RunBusy) once both ranks have joined
    the process group; rank 1, whose collective breaks, stops quietly: the user gets rank
    0's line alone and RunBusy's exit code 5 (not torchrun's 1 and failure summary)."""
    from conftest import assert_one_error_line

    with rundir.run_lock(tmp_path / "busy"):
        done = _cli("train", "stacked_ae", *[a for o in TINY for a in ("--set", o)],
                    "--runs-dir", str(tmp_path), "--name", "busy", "--nproc", "2", "-q")
    assert done.returncode == 5, done.stderr[-3000:]
    assert_one_error_line(done.stderr, f"'{tmp_path / 'busy'}' is being written by another")


def test_the_launcher_keeps_torchruns_summary_for_a_crashed_rank(monkeypatch, capfd, caplog):
    """torchrun in this process, `sh` as the ranks: a recorded error (rank 0) with the
    other rank stopped by torchrun gives that one line and its code; a segfault (nothing
    recorded) keeps torchrun's log lines and failure summary and exits 1."""
    from latentforge.cli.rank_errors import RankError, accounted, first, launch

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    known = ("printf '{\"rank\": %s, \"exit_code\": 5, \"message\": \"busy\", "
             "\"time_ns\": 1}' $RANK > $LATENTFORGE_RANK_ERRORS/rank$RANK.json; exit 5")
    cases = ((f"if [ $RANK = 0 ]; then {known}; else sleep 60; fi", 5),
             ("if [ $RANK = 1 ]; then kill -SEGV $$$$; else sleep 60; fi", 1))  # $$ for sh
    for script, code in cases:
        capfd.readouterr()
        caplog.clear()
        assert launch(["--standalone", "--nproc-per-node=2", "--monitor-interval=0.05",
                       "--no-python", "sh", "-c", script]) == code
        err = capfd.readouterr().err
        if code == 5:
            assert err == "error: busy\n" and "elastic" not in caplog.text  # no log line
        else:
            assert "error:" not in err and "SIGSEGV" in err and "sh FAILED" in err, err
            assert "failed (exitcode: -11)" in caplog.text  # torchrun's log line, kept
    assert "LATENTFORGE_RANK_ERRORS" not in os.environ
    errors = [RankError(1, 2, "peer", 1, consequence=True), RankError(0, 5, "busy", 2),
              RankError(2, 3, "later", 3)]
    assert first(errors).message == "busy"  # the first error that is not a consequence
    assert accounted({0: 5, 1: 2, 2: -15}, errors) and not accounted({0: 5, 1: -11}, errors)
