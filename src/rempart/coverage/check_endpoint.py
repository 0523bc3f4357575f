"""POST /api/v1/checks on the fast path: the documented route's behaviour, without FastAPI's
per-request machinery.

The check is the hot path of the whole service. FastAPI's router walks its included
routers twice per request and its request handler resolves dependencies generically;
together they cost more than the check itself. This endpoint is a plain Starlette route
placed first in the app's routes, so it is matched at once; the FastAPI route in
`coverage.api` stays, and documents it in the OpenAPI document.

It does what FastAPI does for that route, in the same order, with the same pieces:

1. the body is read (the body cap's error propagates unchanged);
2. a non-empty body is decoded as JSON only under a JSON content type; a decoding error
   is the same `json_invalid` validation error at the same position (the standard
   library gives it; orjson only takes the common case faster), and an undecodable body
   the same 400;
3. the identity comes before the fields' validation (no identity: 401 even for a bad
   body);
4. the body is validated by the same pydantic model (`CheckIn`), its errors located
   under "body" as FastAPI locates them;
5. the answer is the same `json_answer`.

Errors are raised, not answered: the app's exception handlers answer them, as for every
other route. `tests/test_check_fast_path.py` sends the same requests to both routes and
compares the answers.
"""

from __future__ import annotations

import email.message
import json
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from pydantic_core import PydanticUndefined
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from rempart.coverage.query import CheckRequest
from rempart.coverage.schemas import CheckIn
from rempart.coverage.service import CheckService
from rempart.web.dependencies import json_answer

PATH = "/api/v1/checks"
_JSON_TYPE = "application/json"
_BODY = ("body",)


async def create_check_fast(request: Request) -> Response:
    body = await _decoded_body(request)
    state = request.app.state
    provider = await state.identity_source.identify(request)
    try:
        checked = CheckIn.model_validate(body, from_attributes=True) \
            if body is not PydanticUndefined else _missing()
    except ValidationError as exc:
        raise RequestValidationError(_located(exc.errors(include_url=False)),
                                     body=body) from None
    service: CheckService = state.check_service
    answer = await service.check_async(requester=provider, request=CheckRequest(
        nir=checked.nir, birth_date=checked.birth_date, birth_rank=checked.birth_rank,
        amc_number=checked.amc_number, member_number=checked.member_number,
        category=checked.category.value, care_date=checked.care_date))
    return json_answer(answer, status=201)


def install_fast_check_route(app: FastAPI) -> None:
    """Put the fast route before every other: it answers POST only, so other methods
    on the path still reach the routes that serve them."""
    app.router.routes.insert(0, Route(PATH, create_check_fast, methods=["POST"],
                                      include_in_schema=False))


async def _decoded_body(request: Request) -> Any:
    """The body as FastAPI hands it to validation: JSON, raw bytes, or undefined."""
    raw = await _read_body(request)
    if not raw:
        return PydanticUndefined
    content_type = request.headers.get("content-type")
    if not content_type or not _is_json(content_type):
        return raw  # FastAPI's strict content type: validation then refuses the bytes
    try:
        decoded = orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass  # the standard library decides, exactly as FastAPI's own decoding
    else:
        if _without_floats(decoded):
            return decoded
        # orjson turns integers beyond 64 bits into floats; the standard library doesn't.
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RequestValidationError([{
            "type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
            "input": {}, "ctx": {"error": exc.msg}}], body=exc.doc) from None
    except Exception:  # undecodable bytes: FastAPI's 400
        raise HTTPException(status_code=400,
                            detail="There was an error parsing the body") from None


async def _read_body(request: Request) -> bytes:
    """The whole body, read as `Request.body()` reads it (the same messages, the same
    ClientDisconnect) without its async generator: the loop registers every async
    generator in a weak set and closes it, which cost more than decoding the JSON."""
    chunks: list[bytes] = []
    while True:
        message = await request.receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect


def _without_floats(value: Any) -> bool:
    # Loops, not all() over generators: a check's flat body is walked on every request.
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list):
        return not isinstance(value, float)
    for item in value:
        if isinstance(item, float) or (isinstance(item, dict | list)
                                       and not _without_floats(item)):
            return False
    return True


def _is_json(content_type: str) -> bool:
    if content_type == _JSON_TYPE:
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def _missing() -> CheckIn:
    raise RequestValidationError([{"type": "missing", "loc": _BODY, "msg": "Field required",
                                   "input": None}])


def _located(errors: list[Any]) -> list[dict[str, Any]]:
    return [{**error, "loc": (*_BODY, *error["loc"])} for error in errors]
