"""``train.compile``: the model's networks through `torch.compile` while the engine trains.

`compiled` wraps `Trainer.fit`: the model compiles what it trains
(`Model.compile_networks(backend)`: by default each network it holds, compiled in place by
`compile_module`, so parameter names, checkpoints and the optimizers do not change; the
dense autoencoders also compile their hand-fused SGD step), and turns back to eager
(`compile_networks(None)`) when fit ends, so the trained model a caller gets is a plain
module. Validation and the callbacks at the end of an epoch (sample grids) run eagerly
(`eager`): their graphs would double the compile time for a small share of the work.

Shapes: a compiled graph is specialised to the shapes it first sees. A second batch size
(an epoch's last, smaller batch) compiles once more, with the batch axis left dynamic
(torch's automatic dynamic shapes), and every later epoch reuses both graphs: nothing
compiles again per epoch (tests/test_compile.py counts the graphs). ``train.drop_last``
leaves that batch out, so one static graph serves the whole run. A float argument that
changes (the fused step's learning rate under a schedule, progan's fade alpha) likewise
compiles once more, then stays symbolic. ProGAN's growth levels and a GAN's two phases
(D trainable or frozen) are different graphs by nature, so `compiled` raises dynamo's
per-function graph limit from 8 to `GRAPH_LIMIT`.

Gradient penalties (WGAN-GP, R1) differentiate D's scores with respect to its input and
then backpropagate through that gradient; compiled graphs cannot be differentiated twice,
so the penalty's own pass through D runs eagerly (models/gan_losses.py) while D's loss
passes stay compiled.
"""
from __future__ import annotations

import shutil
from contextlib import contextmanager

from latentforge.errors import ConfigError

GRAPH_LIMIT = 64  # compiled graphs per function (dynamo's recompile_limit) while training


def check_backend(backend: str, device) -> None:
    """ConfigError for a backend torch.compile does not know, and for "inductor" on the
    CPU without a C++ compiler (its generated kernels are C++ there)."""
    import torch._dynamo

    known = torch._dynamo.list_backends(exclude_tags=())
    if backend not in known:
        usual = ", ".join(b for b in ("inductor", "aot_eager", "eager") if b in known)
        raise ConfigError(f"Unknown train.compile_backend '{backend}'. Available: {usual} "
                          "(or another of torch._dynamo.list_backends())")
    if backend == "inductor" and device.type == "cpu" and _cxx_compiler() is None:
        raise ConfigError("train.compile with the inductor backend needs a C++ compiler on "
                          "the CPU, and none was found (apt install g++, or set CXX); or set "
                          "train.compile_backend=aot_eager, or train.compile=false.")


@contextmanager
def compiled(model, backend: str, device):
    """For the block, `model`'s networks compiled with `backend` (`check_backend` first);
    eager again afterwards, also when the block raises."""
    import torch._dynamo

    check_backend(backend, device)
    model.compile_networks(backend)
    try:
        with torch._dynamo.config.patch(recompile_limit=GRAPH_LIMIT):
            yield model
    finally:
        model.compile_networks(None)


def eager():
    """A context in which compiled functions and modules run their eager code."""
    import torch

    return torch.compiler.set_stance("force_eager")


def compile_module(module, backend: str | None) -> None:
    """Compile `module`'s calls in place with `backend` (None: back to eager). As
    ``nn.Module.compile``, but the compiled frame is this file's, not torch.nn's: dynamo
    does not trace a top-level frame inside torch.nn, so ``nn.Sequential(...).compile()``
    would silently stay eager."""
    import torch

    if backend is None:
        module._compiled_call_impl = None
        return

    def call(*args, **kwargs):
        return module._call_impl(*args, **kwargs)

    module._compiled_call_impl = torch.compile(call, backend=backend)


def _cxx_compiler() -> str | None:
    """The C++ compiler inductor would use on this machine, or None."""
    try:
        from torch._inductor import cpp_builder

        found = cpp_builder.get_cpp_compiler()
    except Exception:  # inductor raises its own errors when none of its candidates runs
        return None
    return found if shutil.which(found) else None
