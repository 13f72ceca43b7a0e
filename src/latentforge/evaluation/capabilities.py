"""What a run's model can do, and one error that names the models that can.

Every model declares its capabilities once (`Model.CAPABILITIES`, `Model.capabilities()`,
models/base.py): "encode", "reconstruct", "decode", "generate", "posterior",
"discriminate", "styles" (a style space: mapping(z) -> w, synthesize, truncate: stylegan),
and per instance "conditional" (GANs with class labels), "hash" (binary
codings: sigmoid codings trained behind Gaussian noise, as the hashing autoencoder's) and
"images" (the items are images (C, H, W), not table rows (D,): what every figure of items
needs). Generic code asks `can(model, capability)`.
"""
from __future__ import annotations

from latentforge.errors import RunError

HASHING_HINT = ("hashing_ae, or a dense autoencoder trained with model.code_noise > 0 and "
                "model.coding_activation=\"sigmoid\"")
CONDITIONAL_HINT = "gan or dcgan trained with model.conditional=true"
WHAT = {"hash": "binary hash codes", "encode": "an encoder", "decode": "a decoder",
        "reconstruct": "reconstructions", "generate": "a generator",
        "posterior": "a posterior q(z|x) (a VAE)", "discriminate": "a discriminator",
        "conditional": "class-conditional generation",
        "styles": "a style space w (mapping, synthesis, truncation)"}


def is_image_shape(sample_shape) -> bool:
    """True when one item of this shape is an image (C, H, W); tables are (D,)."""
    return len(tuple(sample_shape)) == 3


def can(model, capability: str) -> bool:
    """Whether `model` (a built model) has `capability` (module docstring)."""
    return capability in model.capabilities()


def models_that(capability: str) -> str:
    """The registered models with `capability`, as text for an error message."""
    hints = {"hash": HASHING_HINT, "conditional": CONDITIONAL_HINT}
    if capability in hints:
        return hints[capability]
    from latentforge.registry import get_spec, names

    return ", ".join(n for n in names() if capability in get_spec(n).model_cls.CAPABILITIES)


def require(run, capability: str, command: str) -> None:
    """RunError naming what `command` needs and which models have it, unless `run`'s model
    has `capability`."""
    if can(run.model, capability):
        return
    if capability == "images":
        raise RunError(f"{command} needs images, and '{run.path}' was trained on table rows "
                       f"of shape {tuple(run.model.sample_shape)}, not images.")
    raise RunError(f"{command} needs a model with {WHAT[capability]}; '{run.path}' holds a "
                   f"{run.config.model_name}. Models that can: {models_that(capability)}.")
