"""`DataConfig`: which data a run trains and evaluates on, and how it is split."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataConfig:
    """Where the data comes from and how it is split.

    source: "fashion-mnist" (default, the book's data), "mnist", "digits" (scikit-learn's
        bundled 8x8 digits, offline), "synthetic3d" (the book's 60-point 3-D set for the
        linear autoencoder), "cifar10" (CIFAR-10 from the official binary archive
        ``cifar-10-binary.tar.gz``, never the pickled version: uint8 (N, 3, 32, 32), the
        ten classes airplane..truck; train = the first 50,000 - valid_size training
        records, valid = the last valid_size, test = test_batch), or a path: a folder of
        images (class subfolders optional), a ``.npy``/``.npz`` array file, a ``.csv``
        table, or ``codings:RUN_DIR`` (the codings of another run's encoder on that run's
        data, same splits and labels).
    data_dir: folder holding the IDX files (CIFAR-10: the archive or its six .bin files);
        else $LATENTFORGE_DATA, the Debian package's folder, the Keras cache, a
        torchvision root, then a download (CIFAR-10: data_dir, $LATENTFORGE_DATA, the
        cache ~/.cache/latentforge/cifar10, then a download).
    download: allow a checksum-verified download when no local copy is found.
    valid_size: the book keeps the last 5,000 training images for validation (also the
        last 5,000 of CIFAR-10's 50,000 training records).
    valid_fraction/test_fraction/split_seed: split of sources that ship no split.
    limit_train/limit_eval: keep only the first N items of train / of valid and test
        (quick runs and tests); None keeps all.
    image_size: resize the images of every image source (folders, ``.npy``/``.npz``/
        ``.csv`` images, fashion-mnist/mnist, cifar10, digits) to this square size (at
        most 4096; the aspect ratio is not kept), with one method: antialiased bilinear,
        torch's ``F.interpolate(mode="bilinear", antialias=True, align_corners=False)`` on
        float values, rounded back to uint8 (float images stay float in [0, 1]). Applied
        after the limits and train_classes (only kept items are resized; folders decode
        straight to this size) and before pad_to. Refused for tables. None: no resize
        (folder images must then share one size).
    grayscale: convert folder images to one channel (True), to RGB (False), or keep the
        mode when every image agrees (None).
    label_column: CSV column holding integer class labels, if any: a header name, or a
        0-based column index (an int; the only way to name a column of a CSV without a
        header).
    image_shape: ``[C, H, W]`` (C 1 or 3) when each row of a flat ``(N, D)`` ``.npy`` /
        ``.npz`` / ``.csv`` dataset is one flattened image (D = C*H*W), e.g. ``[1, 28, 28]``
        for MNIST-style rows: the rows become images instead of a table. None: a table.
    train_classes: keep only these class labels in train and valid (one-class anomaly
        detection: train on normal items); test keeps every class. None keeps all.
    pad_to: zero-pad (black) every image symmetrically to pad_to x pad_to, last: after
        loading, the limits and image_size (so pad_to >= image_size), e.g. 32 for
        Fashion-MNIST's 28x28 images in power-of-two architectures (ProGAN, StyleGAN); an
        odd margin puts the extra pixel at the bottom/right. Must be >= the image height
        and width (never crops); refused for tables. None (default) keeps the images as
        they are.
    streaming: image folders only (refused for other sources): keep only the file list
        and labels in memory and decode each batch's files when it is asked for (same
        files, labels, splits, limits, image_size, grayscale, pad_to and header checks as
        the in-memory folder, so the same pixels and training results); for folders larger
        than memory. Training decodes through `workers` DataLoader processes.
    workers: DataLoader worker processes that decode a streaming folder's batches while
        the model trains (0: decode in the training process). Unused without streaming.

    Memory: a dataset (or its resized / padded output) that would not fit in the available
    memory is refused with a `ResourceError` (exit 4) before it is allocated, naming the
    bytes needed and available and the fix (a smaller image_size, limit_train/limit_eval).
    """

    source: str = "fashion-mnist"
    data_dir: str | None = None
    download: bool = True
    valid_size: int = 5000
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    limit_train: int | None = None
    limit_eval: int | None = None
    image_size: int | None = None
    grayscale: bool | None = None
    label_column: int | str | None = None
    train_classes: list[int] | None = None
    image_shape: list[int] | None = None
    pad_to: int | None = None
    streaming: bool = False
    workers: int = 2
