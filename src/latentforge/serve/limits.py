"""The server's size limits, and a request-body guard that refuses oversized bodies
(413) before they are read into memory, whether or not they announce their length."""
from __future__ import annotations

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # one uploaded image file
MAX_IMAGE_SIDE = 4096  # pixels, width and height, read from the header before decoding
# Two base64 images (interpolate) plus the JSON around them.
MAX_BODY_BYTES = 2 * (MAX_UPLOAD_BYTES * 4 // 3 + 4) + 64 * 1024
MAX_SAMPLES = 64  # images one generate call returns
MAX_STEPS = 32  # images of one interpolation
MAX_NEIGHBOURS = 64  # k of similar
MAX_MAP_POINTS = 5000  # n of map


class BodyLimit:
    """ASGI middleware: a request whose body is over `limit` bytes gets 413, from its
    Content-Length header at once, else as soon as the streamed body passes the limit."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await _too_large(send, self.limit)
        return await self.app(scope, self._counting(receive), send)

    def _counting(self, receive):
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    from fastapi import HTTPException

                    raise HTTPException(413, _message(self.limit))
            return message

        return counted


def _message(limit: int) -> str:
    return (f"The request body is over {limit / 2**20:.1f} MB; send images of at most "
            f"{MAX_UPLOAD_BYTES / 2**20:.0f} MB.")


async def _too_large(send, limit: int) -> None:
    import json

    body = json.dumps({"detail": _message(limit)}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
