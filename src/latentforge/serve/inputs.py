"""The image a request carries: a multipart/form-data file field `image`, or a JSON body
{"image": "<base64 PNG/JPEG, data URL prefix allowed>"}; its size is checked before it
is decoded (`images.check_size`); 415 for any other content type, 422 for a malformed
body."""
from __future__ import annotations

import base64
import binascii
import json
import re

from fastapi import HTTPException, Request

from latentforge.serve.images import check_size
from latentforge.serve.limits import MAX_UPLOAD_BYTES

DATA_URL = re.compile(r"data:[\w.+/-]*(;[\w.+=-]*)*;base64,", re.I)
HOW = ("send the image as a multipart/form-data file field 'image', or as JSON "
       "{\"image\": \"<base64 PNG or JPEG>\"}")


async def image_bytes(request: Request) -> bytes:
    """The uploaded image file's bytes (not decoded yet)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        return await _from_form(request)
    if kind == "application/json":
        return base64_image(await _json_field(request))
    raise HTTPException(415, f"Unsupported content type {kind or 'none'!r}: {HOW}.")


async def _from_form(request: Request) -> bytes:
    async with request.form(max_files=1, max_fields=16) as form:
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise HTTPException(422, f"The form has no file field 'image': {HOW}.")
        if upload.size is not None:
            check_size(upload.size)
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
    check_size(len(data))
    return data


async def _json_field(request: Request) -> str:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(422, f"The body is not valid JSON: {HOW}.") from None
    value = body.get("image") if isinstance(body, dict) else None
    if not isinstance(value, str):
        raise HTTPException(422, f"The JSON body has no string field 'image': {HOW}.")
    return value


def base64_image(text: str) -> bytes:
    """The file bytes of a base64 image (a data: URL prefix allowed); 413 when it would
    decode to more than the upload limit (checked first), 422 when it is not base64."""
    text = "".join(text.split())
    match = DATA_URL.match(text)
    payload = text[match.end():] if match else text
    check_size(len(payload) * 3 // 4 - payload[-2:].count("="))
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(422, "The image is not valid base64; send a base64 PNG or JPEG "
                                 "(optionally as a data:image/png;base64, URL).") from None
