"""What keeps the web app safe: loopback by default, a token for actions when bound elsewhere,
same-origin checks and a CSRF token on every action, strict response headers, and media paths
that must resolve (symlinks followed) inside the data directory."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from pathlib import Path

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import UnsafePathError

TOKEN_COOKIE = "samplemill_token"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")


def is_loopback(host: str) -> bool:
    """Whether a bind address only listens on this machine."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_secret() -> str:
    """A random URL-safe secret (CSRF tokens, generated access tokens)."""
    return secrets.token_urlsafe(24)


def same(a: str | None, b: str) -> bool:
    """Constant-time string comparison (False for None)."""
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


def host_name(host_header: str) -> str:
    """The host part of a Host header (IPv6 brackets kept off, port dropped)."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class Guard:
    """ASGI middleware: Host checks on a loopback bind (no DNS rebinding), same-origin and
    CSRF checks on every unsafe method, the access token on actions when one is set, and
    security headers on every response."""

    def __init__(self, app: ASGIApp, *, csrf: str, token: str | None, loopback: bool) -> None:
        self.app, self.csrf, self.token, self.loopback = app, csrf, token, loopback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _plain(send, *refusal)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                    (b"content-security-policy", CSP.encode()),
                ]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope, headers: Headers) -> tuple[int, str] | None:
        """Why a request is refused (status, text), or None to let it through."""
        host = headers.get("host", "")
        if self.loopback and host_name(host) not in LOOPBACK_NAMES:
            return 421, f"this server answers to localhost only, not {host!r}"
        if scope["method"] in SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None and origin != f"{scope.get('scheme', 'http')}://{host}":
            return 403, "cross-site request refused"
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return 403, "cross-site request refused"
        if self.token is not None and not self._has_token(headers):
            return 401, "this action needs the access token: open /login?token=... first"
        return None

    def _has_token(self, headers: Headers) -> bool:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and same(auth[7:].strip(), self.token or ""):
            return True
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == TOKEN_COOKIE and same(value, self.token or ""):
                return True
        return False


async def _plain(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            (b"x-content-type-options", b"nosniff")]})
    await send({"type": "http.response.body", "body": body})


def inside(root: Path, path: str | Path) -> Path:
    """`path` resolved (symlinks followed) when it is a regular file inside `root`;
    UnsafePathError otherwise, so nothing outside the data directory is ever served."""
    base = Path(root).resolve()
    try:
        real = Path(path).resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise UnsafePathError(f"not found: {Path(path).name}") from exc
    if not real.is_relative_to(base):
        raise UnsafePathError(f"{Path(path).name} is outside the data directory")
    if not real.is_file():
        raise UnsafePathError(f"{Path(path).name} is not a file")
    return real
