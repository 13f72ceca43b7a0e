"""Errors as JSON {"detail": "one clear sentence"}: the library's own errors by kind,
FastAPI's validation errors in one sentence, anything unexpected as a logged 500."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from latentforge.errors import (ConfigError, DataError, LatentforgeError, ResourceError,
                                RunBusy, RunError)

log = logging.getLogger(__name__)

# A library error raised by a use case: bad arguments or items are the request's fault
# (422); a run that cannot do it as it is, or is being written, a conflict (409); no
# memory for it, the server's (503).
STATUS = ((ConfigError, 422), (DataError, 422), (RunError, 409), (RunBusy, 409),
          (ResourceError, 503))


def status_of(exc: LatentforgeError) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 500)


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(LatentforgeError, _library_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)


async def _library_error(request: Request, exc: LatentforgeError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=status_of(exc))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": validation_sentence(exc.errors())}, status_code=422)


def validation_sentence(errors) -> str:
    """FastAPI's list of validation errors as one sentence (the first one, and how many
    more there are)."""
    if not errors:
        return "The request is invalid."
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"Invalid request: {where or 'body'}: {first.get('msg', 'invalid')}{more}."


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": f"Internal error ({type(exc).__name__}); the server's "
                                   "log has the details."}, status_code=500)
