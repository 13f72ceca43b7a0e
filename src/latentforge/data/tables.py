"""CSV tables as datasets: numeric columns, optional integer label column.

The first row is a header when any of its cells is not a number; column names then come
from it, else columns are named by their 0-based index ("0", "1", ...). ``data.label_column``
is the label column: an int is a 0-based column index (any file); a string is a header name
(in a file without a header the names are the indices "0", "1", ...); its values must be
integers >= 0. Every other column is a feature: every cell must be a finite number
(empty cells, text, NaN and inf are refused with their row and column). Features become
float32 ``(N, D)``, min-max scaled per feature to [0, 1] with TRAIN-split statistics
(``Splits.info["minmax"]``); split by the config's fractions with a seeded permutation.
With ``data.image_shape`` set, each row is one flattened image instead (see
`latentforge.data.arrays`): features that are all whole numbers are integer pixels in
[0, 255] (uint8), otherwise float pixels in [0, 1].

Parsing holds every cell as a Python string: up to about 23 bytes of memory per byte of CSV
text (measured: two-digit cells 23, 0..255 pixel values 19, 6-decimal floats 9), so 32
bytes per byte are checked with `resources.check_fits` before reading.
"""
from __future__ import annotations

import csv
import logging
import math
from pathlib import Path

import numpy as np

from latentforge.data.arrays import make_splits
from latentforge.data.config import DataConfig
from latentforge.data.dataset import Splits
from latentforge.resources import check_fits
from latentforge.errors import DataError

log = logging.getLogger(__name__)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


TEXT_MEMORY_FACTOR = 32  # bytes of memory per byte of CSV text (measured at most ~23)


def _check_text_memory(path: Path) -> None:
    """Refuse (`ResourceError`) a CSV file too large to parse in the available memory."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"Cannot read {path} ({exc.strerror or exc}).") from exc
    check_fits(size * TEXT_MEMORY_FACTOR, f"parsing {path}",
               "use a .npy file (np.save) for large numeric data")


def read_rows(path: Path) -> tuple[list[str] | None, list[list[str]], list[int]]:
    """``(header, rows, line_numbers)`` of a CSV file; blank lines are skipped."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            rows, lines = [], []
            for row in reader:
                if row:
                    rows.append(row)
                    lines.append(reader.line_num)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path} is not a readable UTF-8 CSV file ({exc}); "
                        "export it again as comma-separated UTF-8 text.") from exc
    header = None
    if rows and not all(_is_number(c) for c in rows[0]):
        header, rows, lines = [c.strip() for c in rows[0]], rows[1:], lines[1:]
    if not rows:
        raise DataError(f"{path} has no data rows; add at least one row of numbers.")
    width = len(header) if header else len(rows[0])
    for row, line in zip(rows, lines):
        if len(row) != width:
            raise DataError(f"{path} line {line} has {len(row)} columns but the file has "
                            f"{width}; make every row the same width.")
    return header, rows, lines


def _bad_cell(path: Path, rows: list[list[str]], lines: list[int], names: list[str]) -> DataError:
    """The error for the first cell that is not a finite number."""
    for row, line in zip(rows, lines):
        for j, cell in enumerate(row):
            what = ("is empty" if not cell.strip() else
                    f"holds '{cell}', not a number" if not _is_number(cell) else
                    f"holds {cell.strip()}, not a finite number"
                    if not math.isfinite(float(cell)) else None)
            if what:
                return DataError(f"{path} line {line}, column '{names[j]}' {what}; "
                                 "fix or remove that row.")
    return DataError(f"{path} could not be parsed as numbers; check its cells.")


def parse_numbers(path: Path, rows: list[list[str]], lines: list[int],
                  names: list[str]) -> np.ndarray:
    """All cells as float64 ``(N, W)``; `DataError` naming the first bad cell."""
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError:
        raise _bad_cell(path, rows, lines, names) from None
    if not np.isfinite(values).all():
        raise _bad_cell(path, rows, lines, names)
    return values


def _label_index(path: Path, names: list[str], label_column: int | str,
                 has_header: bool) -> int:
    """The position of ``data.label_column`` (an int index or a column name)."""
    if isinstance(label_column, int) and 0 <= label_column < len(names):
        return label_column
    if isinstance(label_column, str) and label_column in names:
        return names.index(label_column)
    where = f"columns are {names}" if has_header else "the file has no header row"
    what = (f"column index {label_column} (it has {len(names)} columns, 0..{len(names) - 1})"
            if isinstance(label_column, int) else f"column '{label_column}' ({where})")
    raise DataError(f"{path} has no {what}; set --set data.label_column=NAME to a header "
                    "name or a 0-based column index.")


def _pixels(features: np.ndarray, image_shape: list[int] | None) -> np.ndarray:
    """Whole-number features as int64 when they are image rows (uint8 pixels later)."""
    if image_shape is not None and np.array_equal(features, np.round(features)):
        return features.astype(np.int64)
    return features


def load_csv(cfg: DataConfig) -> Splits:
    """The CSV file ``cfg.source`` as `Splits` of float32 ``(N, D)`` tables in [0, 1]
    (train scale) with int64 labels from ``data.label_column`` (else None)."""
    path = Path(cfg.source).expanduser()
    _check_text_memory(path)
    header, rows, lines = read_rows(path)
    names = header or [str(j) for j in range(len(rows[0]))]
    values = parse_numbers(path, rows, lines, names)
    y = None
    features = list(range(len(names)))
    if cfg.label_column is not None:
        k = _label_index(path, names, cfg.label_column, header is not None)
        y = values[:, k]
        features.remove(k)
    if not features:
        raise DataError(f"{path} has no feature columns besides the label column; "
                        "add at least one numeric column.")
    log.info("%s: %d rows, %d features, labels %s", path, len(values), len(features),
             cfg.label_column)
    info = {"source": "csv", "path": str(path), "columns": [names[j] for j in features],
            "label_column": cfg.label_column}
    x = _pixels(values[:, features], cfg.image_shape)
    return make_splits(path.stem, x, y, cfg, path, info)
