"""Checksum-verified, atomic downloads of dataset files (standard library only).

A file is streamed into a temporary file beside its destination, its digest is checked, and
only then is it renamed into place (`os.replace`), so an interrupted or corrupt download
never leaves a file that a later run would trust.

Digests are `Digest` objects: ``sha256`` of the *decompressed* bytes (robust to
recompression, e.g. Debian's recompressed Fashion-MNIST ``.gz`` files) or ``md5`` of the
file as downloaded.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from latentforge.data.idx import read_chunks
from latentforge.errors import DataError

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_TIMEOUT_S = 60


@dataclass(frozen=True)
class Digest:
    """Expected digest of one file.

    algorithm: ``"sha256"``, ``"md5"``, ... (any `hashlib` name).
    hexdigest: the expected lowercase hex digest.
    decompressed: True to hash the gunzipped content, False to hash the file as downloaded.
    """

    algorithm: str
    hexdigest: str
    decompressed: bool = True

    def compute(self, path: Path) -> str:
        """The digest of ``path`` computed the way this `Digest` says."""
        h = hashlib.new(self.algorithm)
        if self.decompressed:
            for chunk in read_chunks(path):
                h.update(chunk)
            return h.hexdigest()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
        return h.hexdigest()


def _fetch(url: str, dest: Path) -> None:
    """Stream ``url`` into ``dest`` (raises `DataError` on any network or HTTP failure)."""
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as resp, open(dest, "wb") as f:
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DataError(f"Could not download {url} ({reason}); check the network "
                        "connection or the mirror URL.") from exc


def download_file(url: str, dest: Path, digest: Digest | None) -> Path:
    """Download ``url`` to ``dest`` atomically and verify it against ``digest``.

    ``digest`` None skips verification (logged as a warning). Returns ``dest``. Raises
    `DataError` when the download fails or the digest differs; ``dest`` is then untouched.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        log.info("downloading %s -> %s", url, dest)
        _fetch(url, tmp)
        _verify(url, tmp, digest)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _verify(url: str, path: Path, digest: Digest | None) -> None:
    """Raise `DataError` unless ``path`` matches ``digest``."""
    if digest is None:
        log.warning("no known digest for %s; the download is not verified", url)
        return
    try:
        actual = digest.compute(path)
    except DataError as exc:
        raise DataError(f"The file downloaded from {url} is not valid gzip data; the mirror "
                        "or the connection corrupted it, so retry later or set "
                        "LATENTFORGE_MIRROR to another mirror.") from exc
    if actual != digest.hexdigest:
        what = "decompressed " if digest.decompressed else ""
        raise DataError(f"The file downloaded from {url} has {what}{digest.algorithm} {actual}, "
                        f"expected {digest.hexdigest}; the mirror or the connection corrupted "
                        "it, so retry later or set LATENTFORGE_MIRROR to another mirror.")


def locate_or_download(title: str, places, try_place: Callable, download: Callable[[], Path],
                       allow_download: bool, offline_fix: str, failed_fix: str):
    """``(data, path)`` from the first of ``places`` (``(label, path)`` pairs) where
    ``try_place(path)`` loads it, else from a download (``download()`` returns where it
    wrote) when ``allow_download``. ``try_place`` returns the loaded data or a string saying
    why it is not there. Otherwise one `DataError` listing every place tried and the fix
    (``offline_fix`` with downloading off, ``failed_fix`` after a failed download)."""
    tried = []
    for label, path in places:
        result = try_place(path)
        if not isinstance(result, str):
            return result, path
        tried.append(f"{label} {path} ({result})")
    if not allow_download:
        raise DataError(f"{title} was not found; tried: {'; '.join(tried)}; downloading is "
                        f"off (data.download=false); to fix it, {offline_fix}.")
    try:
        path = download()
    except DataError as exc:
        reason = str(exc).rstrip(".")
        raise DataError(f"{title} was not found (tried: {'; '.join(tried)}) and the download "
                        f"failed: {reason}; otherwise {failed_fix}.") from exc
    result = try_place(path)
    if isinstance(result, str):  # pragma: no cover - the download wrote every file
        raise DataError(f"{path} is incomplete after downloading ({result}); delete it and "
                        "retry.")
    return result, path
