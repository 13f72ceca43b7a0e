"""The endpoints that describe runs: the list, one run, its config and metrics, and the
items of its test split as PNG files."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from latentforge import rundir
from latentforge.serve import capability, runs
from latentforge.serve.context import entry, served
from latentforge.serve.schemas import Metrics, RunInfo, RunList

router = APIRouter(prefix="/api/runs", tags=["runs"])


@router.get("", response_model=RunList, summary="The runs of RUNS_DIR")
def list_runs(request: Request) -> dict:
    """Every run folder directly inside RUNS_DIR that has finished an epoch (runs that
    cannot be loaded are left out and logged)."""
    from latentforge.errors import LatentforgeError

    state, found = served(request), []
    for name in runs.run_names(state.runs_dir):
        try:
            found.append(_info(request, name))
        except (LatentforgeError, OSError) as exc:
            runs.log.warning("run %s is not listed: %s", name, exc)
    return {"runs": found}


@router.get("/{run}", response_model=RunInfo, summary="One run")
def get_run(run: str, request: Request) -> dict:
    return _info(request, run)


def _info(request: Request, name: str) -> dict:
    state = served(request)

    def make(e) -> dict:
        return runs.summary(name, e.run, capability.endpoints(e.run.model))

    return state.cache.summary(runs.run_path(state.runs_dir, name), make)


@router.get("/{run}/config", summary="The run's config.json")
def get_config(run: str, request: Request) -> dict:
    state = served(request)
    return runs.finite_json(rundir.read_config_dict(runs.run_path(state.runs_dir, run)))


@router.get("/{run}/metrics", response_model=Metrics, summary="The run's metrics history")
def get_metrics(run: str, request: Request) -> dict:
    """One object per metrics.jsonl line (the epochs its newest checkpoint covers);
    NaN and infinities as null."""
    state = served(request)
    path = runs.run_path(state.runs_dir, run)
    return {"history": runs.finite_json(rundir.read_history(path))}


@router.get("/{run}/items/{index}.png", summary="An item of the test split as a PNG",
            response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "the item"}})
def get_item(run: str, index: int, request: Request) -> Response:
    """Item `index` of the test split (the split similar and map use)."""
    import torch

    from latentforge.serve.images import png_bytes

    e = entry(request, run)
    capability.require(run, e.run, "items")
    data = e.run.split("test")
    if not 0 <= index < len(data):
        raise HTTPException(404, f"No item {index}: run '{run}' has test items 0 to "
                                 f"{len(data) - 1}.")
    png = png_bytes(data.batch(torch.tensor([index]))[0])
    return Response(png, media_type="image/png",
                    headers={"Cache-Control": "public, max-age=60"})
