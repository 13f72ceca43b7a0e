"""Datasets for latentforge: Fashion-MNIST (default), MNIST, digits, synthetic3d, CIFAR-10,
image folders, ``.npy``/``.npz`` arrays and CSV tables, loaded as uint8/float32 tensors
(images in grayscale or colour, resized by ``data.image_size``, padded by ``data.pad_to``).

``load_data(DataConfig(...))`` returns `Splits` (train / valid / test `TensorData`).
This package imports torch; the CLI imports it lazily.
"""
from __future__ import annotations

from latentforge.data.config import DataConfig
from latentforge.data.dataset import Splits, TensorData
from latentforge.data.idx import load_idx_pair, read_idx
from latentforge.data.loader import load_data
from latentforge.data.mnist import FASHION_CLASSES, MNIST_CLASSES

__all__ = ["DataConfig", "TensorData", "Splits", "load_data", "read_idx", "load_idx_pair",
           "FASHION_CLASSES", "MNIST_CLASSES"]
