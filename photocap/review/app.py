"""The review web app: the page, its assets, thumbnails and the API behind the token guard, and
the uvicorn server that runs it on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import jinja2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from photocap.errors import PhotocapError
from photocap.metadata import WriteMode
from photocap.review import api
from photocap.review.api import photo_id_of
from photocap.review.guard import Guard
from photocap.review.thumbnails import thumbnail
from photocap.store.index import Index
from photocap.store.listing import get_photo

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"  # never anything else: the page can change every photo in the index

_templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, auto_reload=False
    )
)


def page(request: Request) -> Response:
    state = request.app.state
    context = {"token": state.token, "scope": state.scope or "", "db": state.index.url}
    response = _templates.TemplateResponse(request, "index.html", context)
    response.headers["cache-control"] = "no-store"
    return response


def thumbnail_endpoint(request: Request) -> Response:
    state = request.app.state
    photo_id = photo_id_of(request)
    row = None
    if photo_id is not None:
        with state.index.reading() as conn:
            row = get_photo(conn, photo_id, state.scope)
    if row is None:
        return JSONResponse({"error": "no such photo in the index"}, status_code=404)
    try:
        made = thumbnail(row.path)
    except (OSError, PhotocapError) as exc:
        reason = exc.message if isinstance(exc, PhotocapError) else (exc.strerror or str(exc))
        return JSONResponse({"error": f"no thumbnail: {reason}"}, status_code=404)
    return FileResponse(
        made, media_type="image/jpeg", headers={"cache-control": "private, max-age=3600"}
    )


def create_app(
    index: Index,
    *,
    token: str,
    port: int,
    scope: str | os.PathLike[str] | None = None,
    write: WriteMode = "auto",
) -> Guard:
    """The ASGI app serving `index` (inside folder `scope` only) to holders of `token` at
    127.0.0.1:`port`; captions are written into photos with write mode `write`."""
    app = Starlette(
        routes=[
            Route("/", page, methods=["GET"]),
            Route("/thumbnails/{photo_id:int}", thumbnail_endpoint, methods=["GET"]),
            *api.routes,
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
    )
    app.state.index = index
    app.state.token = token
    app.state.scope = os.path.abspath(os.fspath(scope)) if scope is not None else None
    app.state.write = write
    return Guard(app, token=token, port=port)


def bind(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1:`port` (0: a free one). Raises PhotocapError when taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise PhotocapError(
            f"cannot listen on {HOST}:{port}: {exc.strerror}", hint="pick another --port, or 0"
        ) from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def catch_stop_signals() -> threading.Event:
    """From now on Ctrl-C or SIGTERM only set the returned event, which `serve` honours: a stop
    asked for before the server runs (just after the URL is printed) still ends it cleanly."""
    asked = threading.Event()
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda *_: asked.set())
    return asked


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, stop_asked: threading.Event):
        super().__init__(config)
        self.stop_asked = stop_asked

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises the signal after a graceful stop (the process then dies of it);
        # `photocap review` stops on Ctrl-C or SIGTERM and exits 0 instead.
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        if self.stop_asked.is_set():
            self.should_exit = True
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(app: Guard, sock: socket.socket, stop_asked: threading.Event) -> None:
    """Serves `app` on `sock` until SIGINT or SIGTERM (or `stop_asked`, from
    `catch_stop_signals`), then returns (requests in flight finish)."""
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    _Server(config, stop_asked).run(sockets=[sock])
