"""The endpoints that make new images: seeded samples (with their codings, for decode)
and interpolations between two seeds' codings or two images' codings."""
from __future__ import annotations

from fastapi import APIRouter, Request

from latentforge.serve import capability
from latentforge.serve.context import entry
from latentforge.serve.images import decode_upload, grid, png_data_url
from latentforge.serve.inputs import base64_image
from latentforge.serve.schemas import GeneratedOut, GenerateIn, ImagesOut, InterpolateIn

router = APIRouter(prefix="/api/runs/{run}", tags=["generate"])
GRID_COLUMNS = 8


def _extras(label, truncation=None) -> tuple[str, ...]:
    """The capabilities the optional arguments need."""
    return ((("conditional",) if label is not None else ())
            + (("styles",) if truncation is not None else ()))


@router.post("/generate", response_model=GeneratedOut, summary="Seeded samples")
def generate(run: str, body: GenerateIn, request: Request) -> dict:
    """n samples of the seed (the same seed gives the same samples) and their codings."""
    from latentforge.tasks.generate import generate as draw, prior_codings

    e = entry(request, run)
    capability.require(run, e.run, "generate", *_extras(body.label, body.truncation))
    images = draw(e.run, body.n, body.seed, body.label, body.truncation)
    codings = prior_codings(e.run, body.n, body.seed)
    return {"images": [png_data_url(im) for im in images],
            "grid": png_data_url(grid(images, GRID_COLUMNS)), "codings": codings.tolist()}


@router.post("/interpolate", response_model=ImagesOut, summary="A path between two ends")
def interpolate(run: str, body: InterpolateIn, request: Request) -> dict:
    """`steps` images decoded along a straight line (lerp) from the first end's codings
    to the second's: two seeds' sample codings (models that generate), or two images'
    codings (models that encode)."""
    from latentforge.tasks.generate import interpolate_codings

    e = entry(request, run)
    kind = "generate" if body.seeds is not None else "encode"
    capability.require(run, e.run, "interpolate", kind, *_extras(body.label))
    start, end = _ends(e.run, body)
    images = interpolate_codings(e.run, start, end, body.steps, "lerp", body.label)
    return {"images": [png_data_url(im) for im in images]}


def _ends(run, body: InterpolateIn):
    """The two end codings (coding_dim,) of the path."""
    import torch

    from latentforge.tasks.generate import prior_codings

    if body.seeds is not None:
        return [prior_codings(run, 1, seed)[0] for seed in body.seeds]
    x = torch.stack([decode_upload(base64_image(text), run.model.sample_shape)
                     for text in body.images])
    return list(run.encode(x))
