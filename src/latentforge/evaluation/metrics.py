"""Pure metric functions: tensors or arrays in, floats or tensors out. No state, no I/O."""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def rounded_accuracy(x: Tensor, recon: Tensor) -> Tensor:
    """Share of elements whose rounded reconstruction equals the rounded input (book ch. 17).

    x, recon: same shape, values in [0, 1]. Returns a 0-d tensor in [0, 1].
    """
    return (torch.round(x) == torch.round(recon)).float().mean()


def principal_angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Principal angles (degrees, ascending) between the column spaces of a (D, k) and b (D, k)."""
    qa, _ = np.linalg.qr(np.asarray(a, dtype=np.float64))
    qb, _ = np.linalg.qr(np.asarray(b, dtype=np.float64))
    cos = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))  # cos descending -> ascending


def pca_reconstruction_mse(x: np.ndarray, k: int) -> float:
    """Mean squared error of the best rank-k affine reconstruction of x (N, D) (= PCA's)."""
    x = np.asarray(x, dtype=np.float64)
    centered = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    proj = centered @ vt[:k].T @ vt[:k]
    return float(np.mean((centered - proj) ** 2))
