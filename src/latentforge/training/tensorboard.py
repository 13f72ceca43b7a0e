"""TensorBoard logging of the epoch metrics, as a training `Callback` (``train.tensorboard``).

Optional: needs the `tensorboard` extra (``pip install 'latentforge[tensorboard]'``). Every
numeric value of an epoch's metrics line (loss, val_loss, step, time_s, ...) becomes a scalar
of the same name at global step = epoch, written with `torch.utils.tensorboard.SummaryWriter`
into ``RUN/tensorboard/``. A resumed run adds a new events file to that folder and continues
at the next epoch. View with ``tensorboard --logdir runs``.
"""
from __future__ import annotations

from latentforge.errors import ConfigError
from pathlib import Path

from latentforge.training.callbacks import Callback

TB_DIR = "tensorboard"
MISSING = "train.tensorboard=true needs TensorBoard: pip install 'latentforge[tensorboard]'"


def summary_writer_cls():
    """`torch.utils.tensorboard.SummaryWriter`; ConfigError when TensorBoard is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch raises ImportError itself when `tensorboard` is absent
        raise ConfigError(MISSING) from None
    return SummaryWriter


class TensorBoardLogger(Callback):
    """Writes each epoch record's numeric values to `log_dir` (RUN/tensorboard/; step =
    epoch). The folder is created with the first epoch."""

    def __init__(self, log_dir: Path, writer_cls=None):
        self.log_dir = Path(log_dir)
        self.writer_cls = writer_cls
        self.writer = None

    @classmethod
    def checked(cls, run_dir: Path) -> "TensorBoardLogger":
        """A logger into RUN/tensorboard/ whose TensorBoard import already succeeded (else
        ConfigError), so a missing package fails before the run directory is touched."""
        return cls(Path(run_dir) / TB_DIR, summary_writer_cls())

    def on_epoch_end(self, trainer, record: dict) -> None:
        if self.writer is None:
            writer_cls = self.writer_cls or summary_writer_cls()
            self.writer = writer_cls(log_dir=str(self.log_dir))
        step = int(record["epoch"])
        for key, value in record.items():
            if key != "epoch" and isinstance(value, (int, float)) \
                    and not isinstance(value, bool):
                self.writer.add_scalar(key, value, global_step=step)
        self.writer.flush()

    def on_fit_end(self, trainer) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
