"""Progress of long measurements on a terminal: one tqdm bar over named phases.

``with phases("probe", ["encode train", "kNN"]) as phase: phase("encode train"); ...``
shows ``probe: encode train`` then ``probe: kNN`` with the phase count and elapsed time
on stderr, and nothing when stderr is not a terminal (tqdm's ``disable=None``), so logs
and tests stay clean.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Sequence


@contextmanager
def phases(desc: str, names: Sequence[str]) -> Iterator[Callable[[str], None]]:
    """A function ``phase(name)`` that marks the start of phase `name` (one of `names`,
    in any order; unknown names only change the label)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(names), desc=desc, unit="phase", leave=False, disable=None,
               bar_format="{desc} [{n}/{total} phases, {elapsed}]")
    order = {name: i for i, name in enumerate(names)}

    def phase(name: str) -> None:
        bar.n = order.get(name, bar.n)
        bar.set_description_str(f"{desc}: {name}")  # refreshes the line

    try:
        yield phase
    finally:
        bar.close()
