"""Similarity search in a run's codings (or binary hashes): the nearest items of a
database split to a query image file or to an item of a split (`search`), or to a query
item given as a tensor (`nearest_items`), the figure of the query and its neighbours,
and the retrieval precision (share of same-class neighbours)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from latentforge.errors import DataError


@dataclass
class SearchResult:
    """query (*sample_shape) float tensor and its description; indices (k,) into the
    database split `db` and their distances, nearest first; classes: the neighbours' class
    names ("-" without labels); db_size; images: query then neighbours (k+1, ...) numpy;
    precision: `retrieval_precision`'s dict when asked for."""

    query_name: str
    db: str
    distance: str
    db_size: int
    indices: list[int]
    distances: list[float]
    classes: list[str]
    images: object = None
    precision: dict | None = field(default=None)


def class_name(data, i: int) -> str:
    """Item i's class name (or number; "-" without labels)."""
    if data.y is None:
        return "-"
    return str(data.classes[data.y[i]] if data.classes else int(data.y[i]))


def query_item(run, query: str | Path | None = None, index: int = 0, split: str = "test"):
    """(query (*sample_shape) float in [0, 1], its description): the image file `query`,
    else item `index` of `split`."""
    import torch

    from latentforge.tasks.items import read_query_image

    if query:
        return read_query_image(run, query), str(query)
    data = run.split(split)
    if not 0 <= index < len(data):
        raise DataError(f"--index must be in [0, {len(data) - 1}], got {index}")
    return data.batch(torch.tensor([index]))[0], f"{split} item {index}"


def search(run, query: str | Path | None = None, index: int = 0, split: str = "test",
           db: str = "train", k: int = 10, distance: str = "euclidean",
           precision: int | None = None) -> SearchResult:
    """The `k` nearest `db` items to the query (`query_item`) by `distance`
    (`evaluation.search.DISTANCES`; "hamming" compares binary hashes); with `precision`
    N, also the same-class share over N seeded `split` queries."""
    import torch

    from latentforge.evaluation.capabilities import require
    from latentforge.evaluation.search import retrieval_precision, split_codings

    require(run, "hash" if distance == "hamming" else "encode", f"search --metric {distance}")
    x, name = query_item(run, query, index, split)
    data = run.split(db)
    db_codes = split_codings(run, db)
    found = nearest_items(run, x, k, db, distance, db_codes)
    idx = torch.as_tensor(found.indices)
    result = SearchResult(name, db, distance, len(data), found.indices, found.distances,
                          [class_name(data, i) for i in found.indices],
                          torch.cat([x[None], data.batch(idx)]).numpy())
    if precision:
        result.precision = retrieval_precision(run, k, precision, split, db, distance,
                                               db=db_codes)
    return result


@dataclass
class Neighbours:
    """indices (k,) into the database split `db`, their distances, nearest first, and
    their labels (None without labels)."""

    db: str
    indices: list[int]
    distances: list[float]
    labels: list[int] | None


def nearest_items(run, x, k: int = 10, db: str = "test", distance: str = "euclidean",
                  db_codes=None) -> Neighbours:
    """The `k` nearest `db` items to the query item x (*sample_shape) in the data range,
    by `distance` (`evaluation.search.DISTANCES`). db_codes: that split's codings when
    the caller has them already (`encode_split`), else they are computed."""
    import torch

    from latentforge.evaluation.capabilities import require
    from latentforge.evaluation.search import nearest, split_codings

    require(run, "hash" if distance == "hamming" else "encode", f"search --metric {distance}")
    data = run.split(db)
    codes = split_codings(run, db) if db_codes is None else torch.as_tensor(db_codes)
    idx, dist = nearest(run.encode(x[None]), codes, k, distance)
    indices = idx[0].tolist()
    labels = None if data.y is None else [int(data.y[i]) for i in indices]
    return Neighbours(db, indices, dist[0].tolist(), labels)


def search_figure(result: SearchResult, path: str | Path) -> Path:
    """The query and its neighbours in one row, titled by class (image runs)."""
    from latentforge.viz.figures import image_grid, png_path, save_figure

    path = png_path(path)
    titles = ["query", *result.classes]
    return save_figure(image_grid(result.images, n_cols=len(result.images), titles=titles),
                       path)
