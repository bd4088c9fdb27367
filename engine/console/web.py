"""The console's safety net around every response: security headers and no stack traces.

`SecurityHeaders` is the outermost ASGI layer, so every response — pages, static files,
redirects and the 500 page alike — carries:

- `Content-Security-Policy`: nothing but this origin's stylesheet and images; no script at all
  (the console has none), no inline style, no plugins, no framing, forms post only here;
- `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`
  (URLs hold subscriber numbers; they must not leak to another site),
  `Cross-Origin-Opener-Policy: same-origin`, `Permissions-Policy` switching off device APIs;
- `Cache-Control: no-store` on pages (they show personal data; static files may be cached).

An unexpected error is logged with its traceback on the server (logger `rekindle.console`)
under a short incident id; the browser gets a plain page with that id and nothing else.
"""

from __future__ import annotations

import logging
import secrets

CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)
log = logging.getLogger("rekindle.console")


class SecurityHeaders:
    """ASGI middleware adding the security headers (and no-store on pages) to every HTTP response."""

    def __init__(self, app, static_prefix: str = "/static/"):
        self.app = app
        self.static_prefix = static_prefix

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = scope.get("path", "").startswith(self.static_prefix)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers += [(k, v) for k, v in HEADERS if k not in names]
                if not is_static and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                headers = [(k, v) for k, v in headers if k.lower() != b"server"]
                message = dict(message, headers=headers)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:  # the inner app already answered 500; never let the traceback reach the client
            log.exception("unhandled error after the response started")


def incident_id() -> str:
    return secrets.token_hex(4)
