"""ONNX graphs of a model's parts, built in memory and checked against PyTorch before
`tasks/export.py` writes anything (`build_graphs`: part name -> `Graph`, its bytes and its
model.json entry).

What each part computes (encoder, decoder, generator; conditional GANs' ``labels``;
StyleGAN's fixed noise and truncation) is in `tasks/export.py`'s docstring.

Every graph: dynamic batch axis, opset `OPSET`, the weights as `load_run` loads them, eval
mode. Exporters (export.py's `EXPORTERS`): "dynamo" (torch.onnx.export's torch.export-based default,
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
"""
from __future__ import annotations

import contextlib
import functools
import io
import logging
import warnings
from dataclasses import dataclass

from latentforge.errors import LatentforgeError, RunError

log = logging.getLogger(__name__)

OPSET = 18
TOLERANCE = 1e-4
CHECK_BATCHES = (1, 3)
NOISE_SEED = 0  # StyleGAN's fixed noise: decode_styles' default noise_seed


@dataclass
class Graph:
    """One exported part: the serialized ONNX model and its model.json entry."""

    part: str
    data: bytes
    info: dict


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
