"""How much memory the machine has, and one check that refuses what would not fit.

Used before anything large is allocated (a model's parameters, a dataset, a batch of
samples), so an absurd size ends in one clear `ResourceError` instead of an allocation
traceback or a machine that swaps to a halt.
"""
from __future__ import annotations

import os

GIB = 1024 ** 3


def available_memory() -> int:
    """Bytes of memory a new allocation can get now: MemAvailable on Linux, else the
    physical memory (sysconf), else a conservative 4 GiB."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4 * GIB


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'; readable sizes for error messages."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def check_fits(nbytes: float, what: str, hint: str) -> None:
    """Raise ResourceError when `nbytes` exceeds the memory available now.

    what: the thing that needs the memory ("the model's parameters"); hint: what to do
    instead ("use smaller model.hidden sizes").
    """
    from latentforge.errors import ResourceError

    free = available_memory()
    if nbytes > free:
        raise ResourceError(f"{what} would need {format_bytes(nbytes)} of memory, but only "
                            f"{format_bytes(free)} is available; {hint}.")
