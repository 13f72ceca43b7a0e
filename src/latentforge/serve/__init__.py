"""`latentforge serve`: the runs of a folder over HTTP (a JSON API and the web explorer).

FastAPI and uvicorn are the optional `serve` extra (``pip install 'latentforge[serve]'``);
`server.check_available` says so in one line when they are missing. Modules:

- app.py: `create_app(runs_dir, max_models=4)`, the FastAPI app (routes, static files, docs)
- runs.py: the runs of RUNS_DIR, the run-name check, a run's summary
- cache.py: the bounded LRU of loaded runs and what is computed once per run
- context.py: what the requests of one app share (the runs folder, the cache)
- images.py: uploads decoded safely (limits checked first), PNG data URLs out
- inputs.py: the image of a request (multipart field or JSON base64)
- limits.py: the size limits and the request-body guard
- capability.py: what each endpoint needs of a model (409 otherwise)
- schemas.py: the request and response models (the OpenAPI description)
- http_errors.py: library errors and validation errors as {"detail": "..."}
- routes_runs.py, routes_codings.py, routes_generate.py: the endpoints
- server.py: binding the socket and running uvicorn (what the CLI calls)
"""
