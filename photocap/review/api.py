"""The JSON API the page uses (and scripts may): list, read and correct photos' captions.

GET   /api/photos?q=&under=&source=&held_back=&sort=&limit=&after=
GET   /api/photos/{id}
PATCH /api/photos/{id}      {"caption": "A corrected caption."}   (null clears it)
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from photocap.review.edit import PhotoNotFound, SaveFailed, save_caption
from photocap.review.queries import list_photos, photo_json
from photocap.store.listing import BadFilter, Filters, get_photo

DEFAULT_LIMIT = 60


def _json(payload: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(payload, status_code=status, headers={"cache-control": "no-store"})


def _flag(value: str | None) -> bool | None:
    if value in (None, ""):
        return None
    lowered = value.lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise BadFilter("held_back must be true or false")


def list_endpoint(request: Request) -> JSONResponse:
    params = request.query_params
    state = request.app.state
    try:
        limit = int(params.get("limit") or DEFAULT_LIMIT)
        filters = Filters(
            scope=state.scope,
            under=params.get("under") or None,
            source=params.get("source") or None,
            held_back=_flag(params.get("held_back")),
            q=params.get("q") or None,
            sort=params.get("sort") or "confidence",  # type: ignore[arg-type]
        )
        page = list_photos(state.index, filters, limit=limit, after=params.get("after") or None)
    except ValueError:
        return _json({"error": "limit must be a whole number"}, 400)
    except BadFilter as exc:
        return _json({"error": exc.message}, 400)
    return _json(
        {
            "photos": page.photos,
            "next": page.next,
            "total": page.total,
            "total_exact": page.total_exact,
        }
    )


MAX_ID = 2**63 - 1  # the largest row id either database stores
MAX_BODY = 64 * 1024  # bytes: a caption is at most a few hundred


def photo_id_of(request: Request) -> int | None:
    """The path's photo id, None when no row can have it (beyond a 64-bit integer)."""
    photo_id = request.path_params["photo_id"]
    return photo_id if photo_id <= MAX_ID else None


async def read_body(request: Request) -> bytes | None:
    """The request body, None when it is larger than MAX_BODY (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


def photo_endpoint(request: Request) -> JSONResponse:
    state = request.app.state
    photo_id = photo_id_of(request)
    if photo_id is None:
        return _json({"error": "no such photo in the index"}, 404)
    with state.index.reading() as conn:
        row = get_photo(conn, photo_id, state.scope)
    if row is None:
        return _json({"error": "no such photo in the index"}, 404)
    return _json(photo_json(row))


async def patch_endpoint(request: Request) -> JSONResponse:
    from starlette.concurrency import run_in_threadpool

    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return _json({"error": "send JSON (Content-Type: application/json)"}, 415)
    raw = await read_body(request)
    if raw is None:
        return _json({"error": f"the body is larger than {MAX_BODY // 1024} KiB"}, 413)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        return _json({"error": "the body is not JSON"}, 400)
    if not isinstance(body, dict) or "caption" not in body:
        return _json({"error": 'send {"caption": "text"} or {"caption": null}'}, 400)
    caption = body["caption"]
    if caption is not None and not isinstance(caption, str):
        return _json({"error": "caption must be a string or null"}, 400)
    state = request.app.state
    photo_id = photo_id_of(request)
    if photo_id is None:
        return _json({"error": "no such photo in the index"}, 404)
    try:
        row = await run_in_threadpool(
            save_caption, state.index, photo_id, caption, scope=state.scope, mode=state.write
        )
    except PhotoNotFound:
        return _json({"error": "no such photo in the index"}, 404)
    except SaveFailed as exc:
        with state.index.reading() as conn:
            current = get_photo(conn, photo_id, state.scope)
        photo = photo_json(current) if current is not None else None
        return _json({"error": exc.message, "photo": photo}, 422)
    return _json(photo_json(row))


routes = [
    Route("/api/photos", list_endpoint, methods=["GET"]),
    Route("/api/photos/{photo_id:int}", photo_endpoint, methods=["GET"]),
    Route("/api/photos/{photo_id:int}", patch_endpoint, methods=["PATCH"]),
]
