"""`create_app(runs_dir, max_models=4)`: the FastAPI app of `latentforge serve`.

Routes: the JSON API under /api (routes_runs.py, routes_codings.py, routes_generate.py;
the contract is in the README's "Serve runs over HTTP"), the web explorer page at / and
its files at /static (latentforge/serve/static/), and the OpenAPI description at
/openapi.json with its pages /docs and /redoc served from the fastapi-offline package's
files (no CDN). Request bodies are capped (`limits.BodyLimit`); errors are JSON
{"detail": "..."} (`http_errors`).
"""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from latentforge.serve import http_errors, routes_codings, routes_generate, routes_runs
from latentforge.serve.cache import RunCache
from latentforge.serve.context import Served
from latentforge.serve.limits import BodyLimit

STATIC = Path(__file__).resolve().parent / "static"
DESCRIPTION = ("The runs of a folder over HTTP: describe them, encode, reconstruct, "
               "decode, generate, interpolate, score anomalies, find similar items and "
               "map the codings. Images go in as a multipart file field `image` or JSON "
               "base64, and come out as PNG data URLs.")


def create_app(runs_dir: str | Path, max_models: int = 4) -> FastAPI:
    """The app serving the runs directly inside `runs_dir`, keeping at most `max_models`
    loaded runs in memory."""
    from fastapi_offline import FastAPIOffline

    from latentforge import __version__

    app = FastAPIOffline(title="latentforge", version=__version__, description=DESCRIPTION)
    app.state.served = Served(Path(runs_dir), RunCache(max_models))
    http_errors.install(app)
    for module in (routes_runs, routes_codings, routes_generate):
        app.include_router(module.router)
    app.add_api_route("/", index, include_in_schema=False)
    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit)
    return app


def index() -> FileResponse:
    """The web explorer page."""
    page = STATIC / "index.html"
    if not page.is_file():
        raise HTTPException(404, f"The web explorer page is not installed ({page} is "
                                 "missing); the JSON API is under /api and /docs.")
    return FileResponse(page)
