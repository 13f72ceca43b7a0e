"""Export a run's networks for serving outside PyTorch: `export_run(run, "onnx", out)`
writes one ONNX graph per part the model has, and `model.json`, which describes them.

Parts, chosen by the model's declared capabilities (`evaluation.capabilities.can`):
- ``encoder`` ("encode"): ``images`` (B, C, H, W) (``rows`` (B, D) of a table) in [0, 1]
  -> ``codings`` (B, coding_dim): `model.encode`, a VAE's posterior mean.
- ``decoder`` ("decode"): ``codings`` -> ``images`` in [0, 1] (`model.decode`; a GAN's
  generator on given codings; rows are unbounded for a linear or SELU output).
- ``generator`` ("generate"): ``z`` (B, coding_dim) drawn from N(0, I) -> images. The
  decoder's function (a VAE decodes prior samples; a GAN's G is its decoder), so it is the
  decoder's graph with its input renamed, except for a StyleGAN truncated with psi != 1.
Conditional GANs ("conditional") take a second input ``labels``: int64 (B,) class indices
in [0, n_classes), one-hot encoded inside the graph, which does not check the range (an
index outside it gives a wrong one-hot where PyTorch raises).
Style models ("styles": stylegan): mapping, truncation (the generator only: psi
`truncation`, default 1 = none, on the first model.truncation_cutoff style inputs),
synthesis with FIXED per-layer noise maps, the ones `generation.styles.decode_styles`
uses (drawn from a generator seeded with 0, the same for every image): a graph is a
function of its inputs, where `model.decode` draws fresh noise on every call.

How each graph is exported and checked (exporters, tolerance, opset) is in
`tasks/onnx_graphs.py`.

Writes: the graphs are built and checked in memory first, so a failure writes nothing;
then the old model.json is removed, the graphs are written atomically, parts an earlier
export left and this one lacks are removed (and temporary files of a killed one), and
model.json comes last (a folder without it holds no complete export). The folder must be
absent or hold only what an export writes.
onnx, onnxscript and onnxruntime are the optional `onnx` extra, imported only here and in
`tasks/onnx_graphs.py`.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from latentforge.errors import ConfigError, LatentforgeError, RunError, WriteError
from latentforge.tasks.onnx_graphs import OPSET, Graph, build_graphs

log = logging.getLogger(__name__)

FORMATS = ("onnx",)
EXPORTERS = ("auto", "dynamo", "torchscript")
PARTS = ("encoder", "decoder", "generator")
CAPABILITY = {"encoder": "encode", "decoder": "decode", "generator": "generate"}
MANIFEST = "model.json"
OUT_DIR = "onnx"  # RUN/onnx by default
INSTALL = "pip install 'latentforge[onnx]'"


@dataclass
class ExportResult:
    """What `export_run` wrote: the folder, model.json, each part's file, model.json's
    content."""

    out: Path
    manifest: Path
    files: dict[str, Path]
    info: dict


def export_run(run, fmt: str = "onnx", out: str | Path | None = None,
               truncation: float | None = None, exporter: str = "auto") -> ExportResult:
    """Write the run's encoder / decoder / generator graphs and model.json into `out`
    (default RUN/onnx); see the module docstring. truncation: the StyleGAN generator's psi
    (None: no truncation; a model without a style space refuses one). ConfigError for an
    unknown `fmt` or `exporter`, or without the onnx extra; RunError for a model with no
    part to export or a part no exporter exports faithfully; WriteError / ResourceError
    when the folder cannot be written."""
    from latentforge.models.base import evaluating

    check_options(fmt, exporter)
    require_onnx()
    out = _out_dir(run, out)
    parts = exportable_parts(run.model)
    if not parts:
        raise RunError(f"'{run.path}' holds a {run.config.model_name}, which has no encoder, "
                       "decoder or generator to export.")
    psi = _truncation(run, truncation)
    check_out_dir(out)
    with evaluating(run.model):
        graphs = build_graphs(run.model, parts, psi, exporter)
    info = _manifest(run, graphs)
    return ExportResult(out, out / MANIFEST, _write(out, graphs, info), info)


def check_options(fmt: str, exporter: str = "auto") -> None:
    """ConfigError for a format or exporter `export_run` does not know."""
    if fmt not in FORMATS:
        raise ConfigError(f"Unknown export format {fmt!r}: use {', '.join(FORMATS)}.")
    if exporter not in EXPORTERS:
        raise ConfigError(f"Unknown exporter {exporter!r}: use one of {', '.join(EXPORTERS)}.")


def require_onnx() -> None:
    """ConfigError naming the extra when onnx, onnxscript or onnxruntime is missing."""
    import importlib.util

    missing = [m for m in ("onnx", "onnxscript", "onnxruntime")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"ONNX export needs {', '.join(missing)}: {INSTALL}")


def exportable_parts(model) -> list[str]:
    """The parts `model` has, in `PARTS` order, from its declared capabilities."""
    from latentforge.evaluation.capabilities import can

    return [part for part in PARTS if can(model, CAPABILITY[part])]


def _out_dir(run, out) -> Path:
    if out is not None:
        return Path(out)
    if run.path is None:
        raise RunError("This run was trained in memory (run_dir=False): give an output "
                       "folder (out=...).")
    return Path(run.path) / OUT_DIR


def _truncation(run, truncation: float | None) -> float:
    """The generator's psi: 1 unless given; a model without a style space refuses one."""
    from latentforge.evaluation.capabilities import require

    if truncation is None:
        return 1.0
    require(run, "styles", "export --truncation")
    if not math.isfinite(truncation):
        raise ConfigError(f"--truncation must be a finite number, got {truncation}.")
    return float(truncation)


def check_out_dir(out: Path) -> None:
    """WriteError unless `out` is absent or holds only what an export writes (an earlier
    export, or what an interrupted one left), so an export never replaces other files."""
    out = Path(out)
    if not out.exists():
        return
    if not out.is_dir():
        raise WriteError(f"Cannot export into '{out}': it is a file, not a folder.")
    foreign = [p.name for p in out.iterdir() if not _written_by_export(p.name)]
    if (out / MANIFEST).exists() and read_manifest(out) is None:
        foreign.append(MANIFEST)
    if foreign:
        raise WriteError(f"Refusing to export into '{out}': it holds files an export does "
                         f"not write ({', '.join(sorted(foreign)[:3])}). Choose another "
                         "--out.")


def _written_by_export(name: str) -> bool:
    """Whether a file of this name is one an export writes: a part, model.json, or the
    temporary file of an atomic write of one (`atomic.atomic_path`)."""
    import fnmatch

    names = [MANIFEST, *(f"{part}.onnx" for part in PARTS)]
    return name in names or any(fnmatch.fnmatchcase(name, f".{n}.*.tmp") for n in names)


def read_manifest(out: str | Path) -> dict | None:
    """An export's model.json as a dict; None when `out` holds none (or a file of that
    name that export did not write)."""
    try:
        info = json.loads((Path(out) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    ours = isinstance(info, dict) and "latentforge" in info and "parts" in info
    return info if ours else None


def _manifest(run, graphs: list[Graph]) -> dict:
    from latentforge import __version__

    model = run.model
    return {"latentforge": __version__, "format": "onnx", "opset": OPSET,
            "run": None if run.path is None else str(Path(run.path).resolve()),
            "model": run.config.model_name, "recipe": run.config.recipe,
            "sample_shape": list(model.sample_shape), "coding_dim": int(model.coding_dim),
            "class_names": _class_names(run),
            "parts": {g.part: g.info for g in graphs}}


def _class_names(run) -> list[str] | None:
    """The training data's class names (a conditional GAN's labels index them); None when
    the data has none or cannot be loaded now (logged)."""
    try:
        names = run.split("train").classes
    except LatentforgeError as exc:
        log.warning("model.json lists no class names: the run's data cannot be loaded (%s)",
                    exc)
        return None
    return [str(c) for c in names] if names else None


# ---------------------------------------------------------------- writing


def _write(out: Path, graphs: list[Graph], info: dict) -> dict[str, Path]:
    """The graphs, then model.json, atomically (module docstring); part -> path."""
    from latentforge.atomic import atomic_write_bytes
    from latentforge.errors import write_error
    from latentforge.tasks.files import save_json

    files = {g.part: out / g.info["file"] for g in graphs}
    stale = [out / f"{part}.onnx" for part in PARTS if part not in files]
    if out.is_dir():  # temporary files of a killed export
        stale += [p for p in out.glob(".*.tmp") if _written_by_export(p.name)]
    try:
        (out / MANIFEST).unlink(missing_ok=True)
        for graph in graphs:
            atomic_write_bytes(files[graph.part], graph.data)
        for path in stale:
            path.unlink(missing_ok=True)
    except OSError as exc:
        raise write_error(exc, getattr(exc, "filename", None) or out) from None
    save_json(out / MANIFEST, info)
    return files
