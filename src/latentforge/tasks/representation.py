"""What a run's codings are worth: a 2-D map of them (t-SNE / PCA / UMAP, with
thumbnails; or its points alone), linear-probe and kNN accuracy, and a few-label
classifier on the pretrained encoder (frozen, then fine-tuned) against the same network
from scratch."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from latentforge.errors import DataError


def map_codings(run, method: str = "tsne", split: str = "valid", n: int | None = 5000,
                seed: int = 0, out: str | Path | None = None) -> Path:
    """Write the 2-D map of `n` seeded `split` codings (`viz.maps.MAP_METHODS`; default
    RUN/figures/latent_map_METHOD_SPLIT.png); returns the path."""
    from latentforge.evaluation.capabilities import require
    from latentforge.viz.maps import latent_map_png

    require(run, "encode", "map")
    return latent_map_png(run, method, split, n, Path(out) if out else None, seed)


@dataclass
class MapPoints:
    """points (n, 2) float64 numpy of the 2-D map, the items' indices (n,) into the split
    and their labels (n,) (None without labels); method: the embedding."""

    points: object
    indices: list[int]
    labels: list[int] | None
    method: str


def map_points(run, method: str = "pca", split: str = "test", n: int | None = 500,
               seed: int = 0, codings=None) -> MapPoints:
    """The 2-D map (`viz.maps.embed_2d`) of `n` seeded `split` codings (all when n is
    None), as points. codings: the whole split's codings (N, D) when the caller has them
    already (`encode_split`), else the sampled items are encoded."""
    import numpy as np

    from latentforge.evaluation.capabilities import require
    from latentforge.viz.maps import embed_2d

    require(run, "encode", "map")
    if n is not None and n < 4:
        raise DataError(f"--n must be at least 4, got {n}")
    data = run.split(split)
    idx = data.sample_indices(n, seed)
    codes = (run.encode(data.batch(idx)).numpy() if codings is None
             else np.asarray(codings)[idx.numpy()])
    points = embed_2d(codes.reshape(len(idx), -1), method, seed)
    labels = None if data.y is None else data.y[idx].tolist()
    return MapPoints(points, idx.tolist(), labels, method)


def probe(run, limit: int | None = None, k: int = 5) -> dict:
    """Linear-probe and kNN (k neighbours) accuracy of the codings, fit on the train split
    (a seeded sample of `limit` items), scored on test (`evaluation.probes.probe_run`)."""
    from latentforge.evaluation.probes import probe_run

    return probe_run(run, n_train=limit, k=k)


def probe_table(run, result: dict) -> str:
    """The probe result as the table `latentforge probe` prints."""
    from latentforge.evaluation.probes import format_probe_table

    return format_probe_table(result, run.config.model_name)


def pretrain_settings(epochs: int = 30, frozen_epochs: int = 10, lr: float = 1e-3,
                    finetune_lr: float = 1e-3):
    """The `evaluation.pretrain.PretrainSettings` of these values (checked)."""
    from latentforge.evaluation.pretrain import PretrainSettings

    return PretrainSettings(epochs=epochs, frozen_epochs=frozen_epochs, lr=lr,
                            finetune_lr=finetune_lr)


def pretrain(run, labels: int = 500, settings=None, seeds=(0, 1, 2), split: str = "valid",
             device: str = "cpu"):
    """Few-label classifiers (`labels` train items per seed) on `run`'s encoder: scratch,
    frozen and fine-tuned accuracies on `split` (`evaluation.pretrain.PretrainResult`)."""
    from latentforge.evaluation.capabilities import require
    from latentforge.evaluation.pretrain import pretrain_classifier

    require(run, "encode", "pretrain-classifier")
    settings = pretrain_settings() if settings is None else settings
    return pretrain_classifier(run, labels, settings, list(seeds), split, device)


def write_pretrain(run, result, labels: int, split: str, out: str | Path | None = None
                   ) -> Path:
    """Write the result's JSON (default RUN/pretrain-LABELS-SPLIT.json)."""
    from latentforge.tasks.files import save_json

    path = Path(out) if out else Path(run.path) / f"pretrain-{labels}-{split}.json"
    return save_json(path, result.to_dict())
