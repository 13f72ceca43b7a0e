"""Similarity search: the k nearest items of a database of codings (or of binary hashes,
for hashing autoencoders) to query codings, and how often they share the query's class.

Codings are (N, D) float tensors; the distances (`DISTANCES`): "euclidean", "cosine",
and "hamming", which compares the codings rounded to bits (a hashing_ae's sigmoid codings,
see `evaluation.hashing`), counting the differing bits. torch is imported inside the
functions, so the CLI reads `DISTANCES` without it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from latentforge.errors import DataError

if TYPE_CHECKING:
    from torch import Tensor

DISTANCES = ("euclidean", "cosine", "hamming")


def _distances(queries: Tensor, db: Tensor, metric: str) -> Tensor:
    """(M, N) distances of queries (M, D) to db (N, D)."""
    import torch

    if metric == "cosine":
        q = torch.nn.functional.normalize(queries, dim=1)
        return 1 - q @ torch.nn.functional.normalize(db, dim=1).T
    if metric == "hamming":
        return torch.cdist((queries >= 0.5).float(), (db >= 0.5).float(), p=0)
    return torch.cdist(queries, db)


def nearest(queries: Tensor, db: Tensor, k: int = 10, metric: str = "euclidean",
            batch_size: int = 1024) -> tuple[Tensor, Tensor]:
    """Indices (M, k) int64 into db and distances (M, k), nearest first (ties: lower index
    first for hamming, whose distances are integers)."""
    import torch

    if metric not in DISTANCES:
        raise DataError(f"Unknown metric '{metric}'. Available: {', '.join(DISTANCES)}")
    queries, db = queries.float(), db.float()
    if queries.dim() != 2 or db.dim() != 2 or queries.shape[1] != db.shape[1]:
        raise DataError(f"queries and database must be (M, D) and (N, D) codings, got "
                        f"{tuple(queries.shape)} and {tuple(db.shape)}")
    if not 1 <= k <= len(db):
        raise DataError(f"k must be in [1, {len(db)}] (the database size), got {k}")
    idx, dist = [], []
    for start in range(0, len(queries), batch_size):
        d = _distances(queries[start:start + batch_size], db, metric)
        if metric == "hamming":  # stable order among equal bit counts
            d = d + torch.arange(len(db), dtype=d.dtype) / (2 * len(db))
        values, order = torch.topk(d, k, dim=1, largest=False)
        idx.append(order)
        dist.append(values.floor() if metric == "hamming" else values)
    return torch.cat(idx), torch.cat(dist)


def same_class_share(neighbour_labels: Tensor, query_labels: Tensor) -> float:
    """Share of the (M, k) neighbours whose label equals their query's (M,) label."""
    return float((neighbour_labels == query_labels[:, None]).float().mean())


def split_codings(run, split: str) -> Tensor:
    """Codings (N, D) of every item of one of `run`'s splits: the search database."""
    import torch

    data = run.split(split)
    return run.encode(data.batch(torch.arange(len(data))))


def retrieval_precision(run, k: int = 10, n_queries: int = 1000, query_split: str = "test",
                        db_split: str = "train", metric: str = "euclidean",
                        seed: int = 0, db: Tensor | None = None) -> dict:
    """Mean share of same-class items among the k nearest `db_split` items of `n_queries`
    seeded `query_split` items (precision@k of class retrieval). db: that split's codings
    when the caller has them already (else they are computed)."""
    db_data, q_data = run.split(db_split), run.split(query_split)
    if db_data.y is None or q_data.y is None:
        raise DataError("Retrieval precision needs class labels; this run's data has none.")
    q_idx = q_data.sample_indices(n_queries, seed)
    db = split_codings(run, db_split) if db is None else db
    idx, _ = nearest(run.encode(q_data.batch(q_idx)), db, k, metric)
    return {"precision_at_k": same_class_share(db_data.y[idx], q_data.y[q_idx]), "k": k,
            "n_queries": len(q_idx), "database": len(db), "metric": metric}
