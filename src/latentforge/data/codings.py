"""``codings:RUN``: a dataset made of another run's codings (its encoder applied to its own
data splits), with the same labels and splits. Used by greedy layer-wise training (phase 2
learns to reconstruct the codings of phase 1) and for stacking models in general. The
codings stay float32 as they are (no rescaling), so they keep e.g. their SELU range.
"""
from __future__ import annotations

import torch

from latentforge.data.config import DataConfig
from latentforge.data.dataset import Splits, TensorData
from latentforge.errors import DataError

PREFIX = "codings:"


def load_codings(cfg: DataConfig) -> Splits:
    """Encode the train/valid/test splits of the run named after ``codings:``."""
    from latentforge.api import load_run  # late: the api imports the data package

    path = cfg.source[len(PREFIX):]
    if not path:
        raise DataError("data.source 'codings:' needs a run directory, e.g. codings:runs/ae")
    run = load_run(path)
    if "encode" not in run.model.capabilities():
        raise DataError(f"Run '{path}' ({run.config.model_name}) has no encoder to take "
                        "codings from.")
    inner = run.data()

    def encode(part: TensorData | None) -> TensorData | None:
        if part is None:
            return None
        codes = run.encode(part.batch(torch.arange(len(part)))) if len(part) else \
            torch.empty(0, run.model.coding_dim)
        return TensorData(codes.float().contiguous(), part.y, part.classes)

    info = {"source": cfg.source, "run": str(path), "inner": inner.info}
    return Splits(f"codings of {path}", encode(inner.train), encode(inner.valid),
                  encode(inner.test), info)
