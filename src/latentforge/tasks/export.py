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

Every graph: dynamic batch axis, opset `OPSET`, the weights as `load_run` loads them, eval
mode. Exporters (`EXPORTERS`): "dynamo" (torch.onnx.export's torch.export-based default,
here with torch.export's strict capture: the non-strict one turns StyleGAN's ``len(ws)``
into a constant batch size; and without onnxscript's graph optimizer, whose no-op rule
drops ``x + 1e-8`` (an epsilon within its 1e-8 tolerance of zero: StyleGAN's AdaIN,
PixelNorm); seconds per graph, tens for an LSTM, which it unrolls), "torchscript" (the
legacy tracer that torch deprecates: 10-100x faster, LSTMs as ONNX LSTM ops, but a
traced ``len(x)`` or Python branch is frozen), and "auto" (dynamo, then torchscript: progan
reads its growth level from a buffer's value and conditional GANs check label values,
which torch.export refuses). Every graph is checked before anything is written:
onnxruntime on batches of `CHECK_BATCHES` must match PyTorch within `TOLERANCE` (or twice
PyTorch's own float32 error against float64, for an ill-conditioned network such as a
barely trained StyleGAN, whose AdaIN divides by a near-zero spread), else the next
exporter is tried; model.json records the exporter and both numbers.

Writes: the graphs are built and checked in memory first, so a failure writes nothing;
then the old model.json is removed, the graphs are written atomically, parts an earlier
export left and this one lacks are removed (and temporary files of a killed one), and
model.json comes last (a folder without it holds no complete export). The folder must be
absent or hold only what an export writes.
onnx, onnxscript and onnxruntime are the optional `onnx` extra, imported here only.
"""
from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

from latentforge.errors import ConfigError, LatentforgeError, RunError, WriteError

log = logging.getLogger(__name__)

FORMATS = ("onnx",)
EXPORTERS = ("auto", "dynamo", "torchscript")
PARTS = ("encoder", "decoder", "generator")
CAPABILITY = {"encoder": "encode", "decoder": "decode", "generator": "generate"}
MANIFEST = "model.json"
OUT_DIR = "onnx"  # RUN/onnx by default
OPSET = 18
TOLERANCE = 1e-4
CHECK_BATCHES = (1, 3)
NOISE_SEED = 0  # StyleGAN's fixed noise: decode_styles' default noise_seed
INSTALL = "pip install 'latentforge[onnx]'"


@dataclass
class Graph:
    """One exported part: the serialized ONNX model and its model.json entry."""

    part: str
    data: bytes
    info: dict


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


# ---------------------------------------------------------------- the graphs


def build_graphs(model, parts: list[str], psi: float = 1.0,
                 exporter: str = "auto") -> list[Graph]:
    """Each of `parts` exported and checked (`build_graph`); the generator reuses the
    decoder's graph when it computes the same function (module docstring)."""
    from latentforge.evaluation.capabilities import can

    graphs: dict[str, Graph] = {}
    for part in parts:
        same = part == "generator" and "decoder" in graphs and not (
            can(model, "styles") and psi != 1)
        graphs[part] = (_as_generator(graphs["decoder"], model, psi) if same
                        else build_graph(model, part, psi, exporter))
    return list(graphs.values())


def build_graph(model, part: str, psi: float = 1.0, exporter: str = "auto") -> Graph:
    """`part` of `model` exported and checked against PyTorch (module docstring); RunError
    naming each exporter's failure when none gives a graph that matches."""
    module, names, output = part_module(model, part, psi)
    failures = []
    for name in (("dynamo", "torchscript") if exporter == "auto" else (exporter,)):
        try:
            data = _export(module, names, output, example_inputs(model, names, 2), name)
            diff, noise = check_graph(data, module, model, names)
        except LatentforgeError:
            raise
        except Exception as exc:  # each exporter fails its own way (unsupported op, ...)
            failures.append(f"{name}: {_reason(exc)}")
            log.info("The %s exporter failed on the %s: %s", name, part, failures[-1])
            continue
        if diff <= max(TOLERANCE, 2 * noise):
            info = _part_info(model, part, names, psi)
            info.update(exporter=name, max_abs_diff=diff, float32_error=noise)
            if failures:
                info["not_exported_by"] = failures
            return Graph(part, data, info)
        failures.append(f"{name}: the graph differs from PyTorch by {diff:.3g} "
                        f"(> {TOLERANCE:g})")
    raise RunError(f"Cannot export the {part} of this {type(model).__name__} to ONNX: "
                   + "; ".join(failures) + ".")


def part_module(model, part: str, psi: float = 1.0):
    """(an nn.Module computing `part` of `model` in eval mode, its input names, its output's
    name); the module holds the model, so it exports its weights."""
    from latentforge.evaluation.capabilities import can

    names = [_items(model) if part == "encoder" else "z" if part == "generator" else "codings"]
    if part != "encoder" and can(model, "conditional"):
        names.append("labels")
    output = "codings" if part == "encoder" else _items(model)
    if part == "encoder":
        fn, constants = _encode, ()
    elif can(model, "styles"):
        fn = functools.partial(_style_images, psi=psi if part == "generator" else 1.0)
        constants = _style_noise(model)
    else:
        fn, constants = _decode, ()
    return _part_class()(model, fn, constants).eval(), names, output


def _items(model) -> str:
    """What the model's data are called in a graph: "images", or "rows" of a table."""
    from latentforge.evaluation.capabilities import can

    return "images" if can(model, "images") else "rows"


@functools.cache
def _part_class():
    import torch

    class Part(torch.nn.Module):
        """``fn(model, constants, *inputs)`` as a module holding the model (its weights) and
        the constant tensors (buffers): what an exporter takes."""

        def __init__(self, model, fn, constants=()):
            super().__init__()
            self.model, self.fn, self.n_constants = model, fn, len(constants)
            for i, tensor in enumerate(constants):
                self.register_buffer(f"constant{i}", tensor)

        def forward(self, x, labels=None):
            constants = [getattr(self, f"constant{i}") for i in range(self.n_constants)]
            return self.fn(self.model, constants, *((x,) if labels is None else (x, labels)))

    return Part


def _encode(model, constants, x):
    return model.encode(x)


def _decode(model, constants, *inputs):
    return model.decode(*inputs)


def _style_noise(model) -> list:
    """A style model's fixed noise maps (1, 1, r, r), one per style input: the draws of
    `decode_styles` (a CPU generator seeded with `NOISE_SEED`, in order)."""
    import torch

    gen = torch.Generator().manual_seed(NOISE_SEED)
    return [torch.randn(1, 1, r, r, generator=gen).to(_device(model))
            for r in model.style_resolutions]


def _style_images(model, noise, z, psi: float):
    """A style model's images of codings z, in [0, 1]: mapping, truncation with psi,
    synthesis with the given noise maps."""
    w = model.truncate(model.mapping(z), psi)
    ws = w if w.dim() == 3 else w.unsqueeze(1).expand(-1, model.n_styles, -1)
    return model.to_data(model.generator.synthesis(ws, noise))


def _device(model):
    return next(model.parameters()).device


def example_inputs(model, names: list[str], batch: int, seed: int = 0) -> tuple:
    """Inputs named `names` for a batch: images or rows uniform in [0, 1], codings N(0, I)
    (seeded), labels 0, 1, ..., K-1, 0, ..., on the model's device."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    inputs = []
    for name in names:
        if name in ("images", "rows"):
            inputs.append(torch.rand(batch, *model.sample_shape, generator=gen))
        elif name == "labels":
            inputs.append(torch.arange(batch, dtype=torch.int64) % int(model.cfg.n_classes))
        else:
            inputs.append(torch.randn(batch, model.coding_dim, generator=gen))
    return tuple(x.to(_device(model)) for x in inputs)


def _export(module, names: list[str], output: str, example: tuple, exporter: str) -> bytes:
    """The serialized ONNX graph of `module` on `example`, inputs `names`, output `output`,
    with a dynamic batch axis, quietly (module docstring: why strict capture and no graph
    optimizer)."""
    import torch

    with _quiet(), torch.no_grad():
        if exporter == "torchscript":
            buffer = io.BytesIO()
            axes = {name: {0: "batch"} for name in [*names, output]}
            torch.onnx.export(module, example, buffer, input_names=names,
                              output_names=[output], dynamic_axes=axes,
                              opset_version=OPSET, dynamo=False)
            return buffer.getvalue()
        batch = torch.export.Dim("batch")
        program = torch.export.export(module, example, strict=True,
                                      dynamic_shapes=tuple({0: batch} for _ in names))
        onnx_program = torch.onnx.export(program, input_names=names, output_names=[output],
                                         opset_version=OPSET, dynamo=True, optimize=False,
                                         report=False, verify=False)
        return _batch_named(onnx_program.model_proto).SerializeToString()


def _batch_named(proto):
    """`proto` with its batch axis named "batch" (torch.export calls it s0, s6, ...)."""
    symbol = proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param
    for value in [*proto.graph.input, *proto.graph.output, *proto.graph.value_info]:
        for dim in value.type.tensor_type.shape.dim:
            if symbol and dim.dim_param == symbol:
                dim.dim_param = "batch"
    return proto


@contextlib.contextmanager
def _quiet():
    """Silence the exporters' prints, warnings and logs (they report every step and dump
    graphs on failure; the failure itself is raised)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def check_graph(data: bytes, module, model, names: list[str]) -> tuple[float, float]:
    """(the largest absolute difference between onnxruntime's outputs of graph `data` and
    `module`'s, the largest difference between `module` in float32 and in float64) over
    batches of `CHECK_BATCHES`. ValueError when an output's shape differs; RunError when
    `module` (in eval mode) gives two answers to one input: no graph can match it."""
    import copy

    import onnxruntime
    import torch

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    exact = copy.deepcopy(module).double()
    diff = noise = 0.0
    for seed, batch in enumerate(CHECK_BATCHES, 1):
        example = example_inputs(model, names, batch, seed)
        with torch.no_grad():
            expected = module(*example)
            if not torch.equal(expected, module(*example)):
                raise RunError(f"This {type(model).__name__}'s output is random in eval mode, "
                               "so no graph can reproduce it.")
            precise = exact(*(x.double() if x.is_floating_point() else x for x in example))
        got = session.run(None, {n: x.cpu().numpy() for n, x in zip(names, example)})[0]
        if got.shape != tuple(expected.shape):
            raise ValueError(f"the graph's output has shape {list(got.shape)} for a batch of "
                             f"{batch}, PyTorch's {list(expected.shape)}: its batch size is "
                             "fixed")
        diff = max(diff, _max_diff(got, expected.cpu().numpy()))
        noise = max(noise, _max_diff(expected.double().cpu().numpy(), precise.cpu().numpy()))
    return diff, noise


def _max_diff(a, b) -> float:
    """max |a - b|, with NaN where only one side has one counted as infinite."""
    import numpy as np

    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    d[np.isnan(a) & np.isnan(b)] = 0.0
    return float(np.nan_to_num(d, nan=np.inf).max(initial=0.0))


def _reason(exc: BaseException) -> str:
    """The root cause of an exporter's failure, one line: its type, its first line, and
    the model code it names ("Caused by: ...") when it names one."""
    import re

    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # no terminal colours
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    where = [line for line in lines[1:] if line.startswith("Caused by:")][:1]
    return " ".join([f"{type(exc).__name__}:", *[line[:300] for line in lines[:1] + where]])


def _as_generator(decoder: Graph, model, psi: float) -> Graph:
    """The decoder's graph as the generator: input "codings" renamed "z"."""
    import onnx

    proto = onnx.load_from_string(decoder.data)
    for value in proto.graph.input:
        if value.name == "codings":
            value.name = "z"
    for node in proto.graph.node:
        node.input[:] = ["z" if name == "codings" else name for name in node.input]
    info = {**decoder.info, **_part_info(model, "generator", ["z"] + [
        i["name"] for i in decoder.info["inputs"][1:]], psi)}
    return Graph("generator", proto.SerializeToString(), info)


# ---------------------------------------------------------------- model.json


def _part_info(model, part: str, names: list[str], psi: float) -> dict:
    """A part's model.json entry without the exporter's numbers: its file, inputs and
    outputs (name, shape with "batch", dtype, range [low, high], null: unbounded)."""
    from latentforge.evaluation.capabilities import can

    data = _tensor(_items(model), list(model.sample_shape), [0.0, 1.0])
    codings = _tensor("codings", [model.coding_dim], [None, None])
    if part == "encoder":
        inputs, output = [data], codings
    else:
        inputs, output = [{**codings, "name": names[0]}], {**data, "range": _output_range(model)}
    if part == "generator":
        inputs[0]["distribution"] = "normal(0, 1)"
    if "labels" in names:
        inputs.append({"name": "labels", "shape": ["batch"], "dtype": "int64",
                       "range": [0, int(model.cfg.n_classes) - 1]})
    info = {"file": f"{part}.onnx", "inputs": inputs, "outputs": [output]}
    if part != "encoder" and can(model, "styles"):
        info.update(truncation=psi if part == "generator" else 1.0,
                    truncation_cutoff=model.cfg.truncation_cutoff,
                    noise=f"fixed: per style input one map drawn from torch.Generator()"
                          f".manual_seed({NOISE_SEED}), the same for every image")
    return info


def _tensor(name: str, shape: list, value_range: list) -> dict:
    return {"name": name, "shape": ["batch", *shape], "dtype": "float32",
            "range": value_range}


def _output_range(model) -> list:
    """[0, 1] for sigmoid outputs and every GAN (images); unbounded for an autoencoder
    with a linear or SELU output (model.output)."""
    return [0.0, 1.0] if getattr(model.cfg, "output", "sigmoid") == "sigmoid" else [None, None]


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
