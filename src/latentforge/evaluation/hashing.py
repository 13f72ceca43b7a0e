"""Semantic hashing with the hashing autoencoder: codings in (0, 1) -> bits -> integers."""
from __future__ import annotations

from collections import Counter

import numpy as np


def hash_bits(codings: np.ndarray) -> np.ndarray:
    """(N, B) codings in [0, 1] -> (N, B) uint8 bits (rounded, 0.5 -> 0 as numpy rounds)."""
    return np.round(np.asarray(codings)).astype(np.uint8)


def hash_ints(bits: np.ndarray) -> np.ndarray:
    """(N, B) bits -> (N,) int64 hashes, bit i worth 2**i (book: sum of bits * 2**arange)."""
    bits = np.asarray(bits, dtype=np.int64)
    return (bits << np.arange(bits.shape[1], dtype=np.int64)).sum(axis=1)


def binariness(codings: np.ndarray, margin: float = 0.1) -> float:
    """Share of coding values within `margin` of 0 or 1: how binary the codes really are."""
    c = np.asarray(codings)
    return float(np.mean((c < margin) | (c > 1 - margin)))


def most_common(hashes: np.ndarray, top: int) -> list[tuple[int, np.ndarray]]:
    """The `top` most frequent hashes with the indices of the items sharing each."""
    counts = Counter(hashes.tolist()).most_common(top)
    return [(h, np.flatnonzero(hashes == h)) for h, _ in counts]


def hash_table(codings: np.ndarray, labels: np.ndarray | None = None) -> dict:
    """Summary: distinct hashes, items per hash, binariness, label purity of the buckets."""
    hashes = hash_ints(hash_bits(codings))
    counts = np.array(list(Counter(hashes.tolist()).values()))
    out = {"items": int(len(hashes)), "bits": int(codings.shape[1]),
           "distinct_hashes": int(len(counts)), "largest_bucket": int(counts.max()),
           "binariness": binariness(codings)}
    if labels is not None:
        agree = sum(np.bincount(labels[hashes == h]).max() for h in np.unique(hashes))
        out["bucket_label_purity"] = float(agree / len(hashes))
    return out
