"""The endpoints that use a run's codings: encode, reconstruct, decode, anomaly, similar
and map. Each checks the model can (409), then calls a use case of `latentforge.tasks`;
what is costly per run (the test split's codings, the anomaly threshold, maps) is
computed once and kept with the loaded run (`cache.Entry.memo`)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from latentforge.serve import capability
from latentforge.serve.context import entry
from latentforge.serve.images import decode_upload, png_data_url
from latentforge.serve.inputs import image_bytes
from latentforge.serve.limits import MAX_MAP_POINTS, MAX_NEIGHBOURS
from latentforge.serve.schemas import (IMAGE_BODY, AnomalyOut, CodingsOut, DecodeIn,
                                       ImageOut, MapOut, ReconstructionOut, SimilarOut)
from latentforge.viz import maps as viz_maps

router = APIRouter(prefix="/api/runs/{run}", tags=["codings"])
# the map's methods (viz.maps.MAP_METHODS), PCA (the fast one, the default) first
MAP_METHODS = ("pca", *(m for m in viz_maps.MAP_METHODS if m != "pca"))


def _input(request: Request, run: str, endpoint: str, data: bytes):
    """(the loaded run, the uploaded image as its input (1, C, H, W)), after checking
    that the run can do `endpoint`."""
    e = entry(request, run)
    capability.require(run, e.run, endpoint)
    return e, decode_upload(data, e.run.model.sample_shape)[None]


@router.post("/encode", response_model=CodingsOut, openapi_extra=IMAGE_BODY,
             summary="The codings of an image")
def encode(run: str, request: Request, data: bytes = Depends(image_bytes)) -> dict:
    e, x = _input(request, run, "encode", data)
    return {"codings": e.run.encode(x)[0].tolist()}


@router.post("/reconstruct", response_model=ReconstructionOut, openapi_extra=IMAGE_BODY,
             summary="An image through the autoencoder")
def reconstruct(run: str, request: Request, data: bytes = Depends(image_bytes)) -> dict:
    from latentforge.tasks.codings import reconstruct_items

    e, x = _input(request, run, "reconstruct", data)
    result = reconstruct_items(e.run, x)
    return {"input": png_data_url(x[0]),
            "reconstruction": png_data_url(result.reconstructions[0]),
            "codings": result.codings[0].tolist(), "error": float(result.errors[0])}


@router.post("/decode", response_model=ImageOut, summary="The image of given codings")
def decode(run: str, body: DecodeIn, request: Request) -> dict:
    from latentforge.tasks.generate import decode_codings

    e = entry(request, run)
    capability.require(run, e.run, "decode", *(("conditional",) if body.label is not None
                                               else ()))
    return {"image": png_data_url(decode_codings(e.run, [body.codings], body.label)[0])}


@router.post("/anomaly", response_model=AnomalyOut, openapi_extra=IMAGE_BODY,
             summary="How anomalous an image is")
def anomaly(run: str, request: Request, data: bytes = Depends(image_bytes)) -> dict:
    """The run's default anomaly score of the image against the 99th percentile of its
    validation items' scores."""
    from latentforge.tasks.anomalies import anomaly_detector

    e, x = _input(request, run, "anomaly", data)
    detector = e.memo("anomaly_detector", anomaly_detector)
    scores, flagged = detector(x)
    return {"score": float(scores[0]), "threshold": float(detector.threshold),
            "is_anomaly": bool(flagged[0]), "method": detector.score}


def _test_codings(run):
    from latentforge.tasks.codings import encode_split

    return encode_split(run, "test").codings


@router.post("/similar", response_model=SimilarOut, openapi_extra=IMAGE_BODY,
             summary="The test items nearest to an image")
def similar(run: str, request: Request, data: bytes = Depends(image_bytes),
            k: int = Query(8, ge=1, le=MAX_NEIGHBOURS)) -> dict:
    """The k test items whose codings are nearest (Euclidean) to the image's."""
    import torch

    from latentforge.tasks.search import nearest_items

    e, x = _input(request, run, "similar", data)
    codes = e.memo("test_codings", _test_codings)
    found = nearest_items(e.run, x[0], min(k, len(codes)), "test", db_codes=codes)
    thumbs = e.run.split("test").batch(torch.tensor(found.indices))
    labels = found.labels or [None] * len(found.indices)
    return {"items": [{"index": i, "distance": d, "label": y, "thumbnail": png_data_url(t)}
                      for i, d, y, t in zip(found.indices, found.distances, labels, thumbs)]}


@router.get("/map", response_model=MapOut, summary="A 2-D map of the test codings")
def latent_map(run: str, request: Request, n: int = Query(500, ge=4, le=MAX_MAP_POINTS),
               method: str = Query("pca", pattern="^(" + "|".join(MAP_METHODS) + ")$")
               ) -> dict:
    """n seeded test items' codings embedded in 2-D (pca, tsne or umap if installed);
    each point's index names its item (GET .../items/{index}.png)."""
    from latentforge.tasks.representation import map_points

    e = entry(request, run)
    capability.require(run, e.run, "map")
    codes = e.memo("test_codings", _test_codings)
    found = e.memo(("map", method, n),
                   lambda r: map_points(r, method, "test", n, codings=codes))
    labels = found.labels or [None] * len(found.indices)
    return {"method": found.method,
            "points": [{"x": float(x), "y": float(y), "label": label, "index": i}
                       for (x, y), label, i in zip(found.points, labels, found.indices)]}
