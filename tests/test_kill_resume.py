"""kill -9 during training, then --resume: the final weights are bitwise equal to those of
an uninterrupted run of the same length (CPU)."""
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

FASHION = Path("/usr/share/datasets/fashion-mnist")
EPOCHS = 12
ARGS = ["train", "stacked_ae", "--epochs", str(EPOCHS), "--no-progress", "-q",
        "--set", "data.limit_train=6000", "--set", "data.limit_eval=500",
        "--set", "train.threads=1"]


def cli(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "latentforge.cli", *args], **kwargs)


def completed_epochs(run_dir: Path) -> int:
    latest = run_dir / "trainer_state" / "latest"
    try:
        return int(latest.read_text().split("-")[1])
    except (OSError, IndexError, ValueError):
        return 0


@pytest.mark.skipif(not FASHION.is_dir(), reason="needs dataset-fashion-mnist")
def test_kill_9_then_resume_is_bitwise_identical(tmp_path):
    runs = str(tmp_path)
    full = cli(*ARGS, "--runs-dir", runs, "--name", "full")
    victim = cli(*ARGS, "--runs-dir", runs, "--name", "killed")
    victim_dir = tmp_path / "killed"
    deadline = time.time() + 120
    while completed_epochs(victim_dir) < 3 and victim.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL, "training ended before it could be killed"
    killed_at = completed_epochs(victim_dir)
    assert 3 <= killed_at < EPOCHS

    resumed = cli("train", "stacked_ae", "--resume", "--runs-dir", runs, "--name", "killed",
                  "--no-progress", "-q")
    assert resumed.wait(timeout=300) == 0
    assert full.wait(timeout=300) == 0

    a = load_file(str(tmp_path / "full" / "model.safetensors"))
    b = load_file(str(victim_dir / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].equal(b[key]), key
    lines = (victim_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == EPOCHS
