"""What a run's model can do, and one error that names the models that can.

Capabilities: "encode" (codings of items), "reconstruct", "generate" (samples from a
prior), "hash" (binary codings: a hashing autoencoder, whose sigmoid codings were pushed to
0 or 1 by Gaussian noise before the coding layer in training) and "images" (the items are
images (C, H, W), not table rows (D,): what every figure of items needs).
"""
from __future__ import annotations

from latentforge.errors import RunError

METHODS = {"encode": "encode", "reconstruct": "reconstruct", "generate": "generate"}
HASHING_HINT = ("hashing_ae, or a dense autoencoder trained with model.code_noise > 0 and "
                "model.coding_activation=\"sigmoid\"")


def is_hashing(model_cfg) -> bool:
    """True for configs whose codings are binary hashes: sigmoid codings trained behind
    Gaussian noise (`code_noise` > 0), as the hashing autoencoder's."""
    return (getattr(model_cfg, "code_noise", 0) or 0) > 0 and \
        getattr(model_cfg, "coding_activation", None) == "sigmoid"


def is_image_shape(sample_shape) -> bool:
    """True when one item of this shape is an image (C, H, W); tables are (D,)."""
    return len(tuple(sample_shape)) == 3


def can(model, capability: str) -> bool:
    """Whether `model` (a built model) has `capability` (module docstring)."""
    if capability == "hash":
        return hasattr(model, "encode") and is_hashing(model.cfg)
    if capability == "images":
        return is_image_shape(model.sample_shape)
    return hasattr(model, METHODS[capability])


def models_that(capability: str) -> str:
    """The registered models with `capability`, as text for an error message."""
    if capability == "hash":
        return HASHING_HINT
    from latentforge.registry import get_spec, names

    method = METHODS[capability]
    return ", ".join(n for n in names() if hasattr(get_spec(n).model_cls, method))


def require(run, capability: str, command: str) -> None:
    """RunError naming what `command` needs and which models have it, unless `run`'s model
    has `capability`."""
    if can(run.model, capability):
        return
    name = run.config.model_name
    if capability == "images":
        raise RunError(f"{command} needs images, and '{run.path}' was trained on table rows "
                       f"of shape {tuple(run.model.sample_shape)}, not images.")
    what = {"hash": "binary hash codes", "encode": "an encoder",
            "reconstruct": "reconstructions", "generate": "a generator"}[capability]
    raise RunError(f"{command} needs a model with {what}; '{run.path}' holds a {name}. "
                   f"Models that can: {models_that(capability)}.")
