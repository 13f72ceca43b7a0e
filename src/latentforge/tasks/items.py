"""The items a task scores: a folder of images (every image, by file name; class
subfolders give labels), one image file, another data source's split (or all of its
splits), or a split of the run's own data, read as the run's model input."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from latentforge.errors import DataError, LatentforgeError

SPLITS = ("train", "valid", "test")
ITEM_SPLITS = (*SPLITS, "all")


@dataclass
class Labels:
    """The items' labels: y (N,) int tensor, indices into `classes` (names, or None)."""

    y: object
    classes: list | None

    def name(self, i: int) -> str:
        """Item i's class name (its label number when the classes have no names)."""
        k = int(self.y[i])
        return str(self.classes[k]) if self.classes else str(k)


@dataclass
class Items:
    """x (N, *sample_shape) float tensor; names (N,) str (file names, or split indices);
    labels or None; same_source: the items come from the run's own data source."""

    x: object
    names: list[str]
    labels: Labels | None
    same_source: bool


def is_image_path(path: str | Path) -> bool:
    """True for an existing folder or image file (what `load_items` reads as images)."""
    from latentforge.data.folders import IMAGE_EXTENSIONS

    path = Path(path)
    return path.exists() and (path.is_dir() or path.suffix.lower() in IMAGE_EXTENSIONS)


def load_items(run, data: str | Path | None = None, split: str = "test") -> Items:
    """The items to score: `data` a folder of images or one image (every image, by file
    name), or a data source (its `split`, "all" for every split); None: the run's own
    data's `split`."""
    import torch

    same = data is None or str(data) == run.config.data.source
    if data is not None and is_image_path(data):
        items = image_files(run, Path(data))
        items.same_source = same
        return items
    part = _source_split(run, None if data is None else str(data), split)
    x = part.batch(torch.arange(len(part)))
    if x.shape[1:] != tuple(run.model.sample_shape):
        raise DataError(f"The items have shape {tuple(x.shape[1:])}, but the model "
                        f"takes {tuple(run.model.sample_shape)}.")
    labels = None if part.y is None else Labels(part.y, part.classes)
    return Items(x, [str(i) for i in range(len(x))], labels, same)


def image_files(run, path: Path) -> Items:
    """Every image of a folder (or one image), read as the model's input, by file name."""
    import numpy as np
    import torch

    from latentforge.data.folders import list_images, read_image
    from latentforge.evaluation.capabilities import require

    require(run, "images", "Scoring image files")
    if path.is_dir():
        files, labels, classes = list_images(path)
    else:
        files, labels, classes = [path], None, None
    shape = tuple(run.model.sample_shape)
    x = torch.from_numpy(np.stack([read_image(f, shape) for f in files])).float() / 255
    names = [str(f.relative_to(path)) if path.is_dir() else f.name for f in files]
    return Items(x, names, None if labels is None else Labels(torch.tensor(labels), classes),
                 False)


def read_query_image(run, path: str | Path, what: str = "search --query IMG"):
    """One image file as the model's input (*sample_shape) float in [0, 1]."""
    import torch

    from latentforge.data.folders import read_image
    from latentforge.evaluation.capabilities import require

    require(run, "images", what)
    x = torch.from_numpy(read_image(Path(path), run.model.sample_shape).copy())
    return x.float() / 255


def split_items(run, split: str):
    """Every item of the run's `split` (N, *sample_shape); refuses an empty split."""
    import torch

    data = run.split(split)
    if not len(data):
        raise LatentforgeError(f"The run's {split} split is empty; use --contamination to "
                               "set the threshold instead.")
    return data.batch(torch.arange(len(data)))


def _source_split(run, source: str | None, split: str):
    """The `split` of the run's data, or of another source (same data options)."""
    from dataclasses import replace

    import torch

    from latentforge.data import load_data
    from latentforge.data.dataset import TensorData

    splits = run.data() if not source else load_data(
        replace(run.config.data, source=source, train_classes=None))
    if split != "all":
        return run.split(split) if not source else _named(splits, split)
    parts = [p for p in (splits.train, splits.valid, splits.test) if p is not None and len(p)]
    y = None if any(p.y is None for p in parts) else torch.cat([p.y for p in parts])
    return TensorData(torch.cat([p.x for p in parts]), y, parts[0].classes)


def _named(splits, name: str):
    data = getattr(splits, name)
    if data is None or not len(data):
        raise DataError(f"The data has no {name} split; use --split all.")
    return data
