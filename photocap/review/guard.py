"""Who may talk to the review server: every request (page, assets, thumbnails, API) needs the
secret token, and comes from the page itself.

- The token is random (`secrets`), compared in constant time. The printed URL carries it once as
  `?token=`; the page's first request swaps it for an HttpOnly, SameSite=Strict cookie and a
  redirect to a URL without it (out of the address bar and history).
- Reads (GET/HEAD) take the cookie or an `Authorization: Bearer` header; anything that changes
  something takes the header only (a cookie alone is what a cross-site request could carry: no
  CSRF). The page reads the token from its own HTML, which only a request with the token gets.
- The Host header must be the address the server is bound to (a DNS-rebinding page names its own
  host); a request with a foreign Origin, or one the browser calls cross-site, is refused.
- Refusals are 403 with a JSON reason; every response forbids framing, sniffing, referrers and
  scripts from anywhere but the server itself.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAFE_METHODS = frozenset({"GET", "HEAD"})
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def new_token() -> str:
    """A fresh secret: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


class Guard:
    """ASGI middleware checking host, origin and token before `app` sees a request."""

    def __init__(self, app: ASGIApp, *, token: str, port: int):
        self.app = app
        self.token = token
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.origins = {f"http://{host}" for host in self.hosts}
        self.cookie = f"photocap_review_{port}"  # cookies ignore ports: one per server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.app(scope, receive, send)
            return  # no websockets
        headers = _headers(scope)
        method = scope["method"]
        refusal = self._refusal(scope, headers, method)
        if refusal is not None:
            await _send_json(send, 403, {"error": refusal})
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = query.get("token", [None])[0]
        if scope["path"] == "/" and method in SAFE_METHODS and given is not None:
            if not self._valid(given):
                await _send_json(send, 403, {"error": "wrong token"})
                return
            await self._swap_for_cookie(send)
            return
        if not self._authorised(headers, method):
            await _send_json(send, 403, {"error": self._why_not(headers, method)})
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, secured)

    def _refusal(self, scope: Scope, headers: dict[str, str], method: str) -> str | None:
        if headers.get("host", "").lower() not in self.hosts:
            return "this server answers only to its own address (Host header refused)"
        origin = headers.get("origin")
        if origin is not None and origin.lower() not in self.origins:
            return "requests from other sites are refused (Origin header)"
        if headers.get("sec-fetch-site") == "cross-site":
            return "requests from other sites are refused (Sec-Fetch-Site)"
        return None

    def _valid(self, value: str | None) -> bool:
        return value is not None and secrets.compare_digest(value.encode(), self.token.encode())

    def _bearer(self, headers: dict[str, str]) -> str | None:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None

    def _cookie(self, headers: dict[str, str]) -> str | None:
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.cookie:
                return value
        return None

    def _authorised(self, headers: dict[str, str], method: str) -> bool:
        if self._valid(self._bearer(headers)):
            return True
        return method in SAFE_METHODS and self._valid(self._cookie(headers))

    def _why_not(self, headers: dict[str, str], method: str) -> str:
        if method not in SAFE_METHODS and self._valid(self._cookie(headers)):
            return "changes need the token in an Authorization: Bearer header, not a cookie alone"
        if self._bearer(headers) is not None or self._cookie(headers) is not None:
            return "wrong token"
        return "the token is missing: open the URL photocap review printed"

    async def _swap_for_cookie(self, send: Send) -> None:
        cookie = f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", b"/"),
                    (b"set-cookie", cookie.encode()),
                    (b"cache-control", b"no-store"),
                    (b"content-length", b"0"),
                    *SECURITY_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _headers(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        key = name.decode("latin-1").lower()
        if key in found and key == "host":
            found[key] = ""  # two Host headers: refused
            continue
        found[key] = value.decode("latin-1")
    return found


async def _send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
