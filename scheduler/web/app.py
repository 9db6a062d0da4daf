"""The web app factory: settings, catalog engine, media cache and templates shared by the
routes of each area (jobs, queue, catalog, sample map, media), behind the security guard."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from core.errors import NotFoundError, SamplemillError, UnsafePathError
from core.settings import Settings, get_settings
from db.engine import get_engine, session_scope
from scheduler.web.cache import DiskCache
from scheduler.web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    TOKEN_COOKIE,
    Guard,
    is_loopback,
    new_secret,
    same,
)

HERE = Path(__file__).resolve().parent


class IdConvertor(Convertor[int]):
    """A catalog id in a URL: 1 to 18 digits, so no id overflows a 64-bit column."""

    regex = "[0-9]{1,18}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(int(value))


register_url_convertor("id", IdConvertor())


@dataclass
class WebContext:
    """What every route needs: settings, the catalog, the media cache, templates, secrets."""

    settings: Settings
    engine: Engine
    cache: DiskCache
    templates: Jinja2Templates
    csrf: str
    token: str | None
    flower_url: str

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.engine) as session:
            yield session

    @property
    def data_dir(self) -> Path:
        return Path(self.settings.data_dir)

    def page(self, request: Request, name: str, status: int = 200, **values: Any) -> Response:
        """A rendered page with the CSRF token and navigation in its context."""
        return self.templates.TemplateResponse(
            request, name, {"csrf": self.csrf, "flower_url": self.flower_url, **values},
            status_code=status)


def ctx(request: Request) -> WebContext:
    """The app's WebContext."""
    return request.app.state.web


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds") + "Z"
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON with datetimes as ISO text and NaN as null."""
    body = json.dumps(_finite(data), default=_default, separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json", headers=headers)


FORM_MOST = 64 * 1024


async def form_fields(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the pages' forms are plain; nothing else is parsed)."""
    from urllib.parse import parse_qsl

    if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"):
        return {}
    body = await request.body()
    if len(body) > FORM_MOST:
        raise HTTPException(413, "form too large")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def check_csrf(request: Request) -> None:
    """403 unless the action carries this server's CSRF token (header or form field)."""
    web = ctx(request)
    sent = request.headers.get(CSRF_HEADER) or (await form_fields(request)).get(CSRF_FIELD)
    if not same(sent, web.csrf):
        raise HTTPException(403, "missing or wrong CSRF token; reload the page")


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


async def login(request: Request) -> Response:
    """With ?token=…: set the access cookie when the token is right, then go to the jobs."""
    web = ctx(request)
    if web.token is None:
        return RedirectResponse("/jobs", 303)
    token = request.query_params.get("token")
    if token is None:
        return web.page(request, "login.html")
    if not same(token, web.token):
        return web.page(request, "login.html", status=401, error="wrong token")
    response = RedirectResponse("/jobs", 303)
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
    return response


async def home(request: Request) -> Response:
    return RedirectResponse("/jobs", 303)


async def _not_found(request: Request, exc: Exception) -> Response:
    message = str(exc) if isinstance(exc, NotFoundError) else "not found"
    return _error(request, 404, message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(request, exc.status_code, exc.detail or "error")


async def _bad_request(request: Request, exc: Exception) -> Response:
    return _error(request, 400, str(exc))


def _error(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith(("/api/", "/media/")) or wants_json(request):
        return json_response({"error": message}, status)
    try:
        return ctx(request).page(request, "error.html", status=status, status_code=status,
                                 message=message)
    except Exception:  # no templates: still a clear answer
        return PlainTextResponse(message, status)


def create_app(
    settings: Settings | None = None, *, host: str = "127.0.0.1", token: str | None = None
) -> Starlette:
    """The ASGI app over the configured catalog and broker.

    Bound to a loopback address it answers only to localhost Host headers; bound elsewhere,
    actions need `token` (or SAMPLEMILL_WEB_TOKEN; a random one is made when neither is set).
    """
    from scheduler.web import catalog, jobs, media, queue, samplemap

    settings = settings or get_settings()
    loopback = is_loopback(host)
    token = token or settings.web_token or None
    if token is None and not loopback:
        token = new_secret()
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["duration"] = format_duration
    templates.env.filters["num"] = format_number
    templates.env.filters["tojson_safe"] = lambda v: json.dumps(_finite(v), default=_default)
    web = WebContext(
        settings=settings,
        engine=get_engine(settings.resolved_catalog_url),
        cache=DiskCache(Path(settings.data_dir) / "web-cache"),
        templates=templates,
        csrf=new_secret(),
        token=token,
        flower_url=settings.flower_url,
    )
    routes = [
        Route("/", home),
        Route("/login", login),
        *jobs.routes,
        *queue.routes,
        *catalog.routes,
        *samplemap.routes,
        *media.routes,
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            NotFoundError: _not_found,
            UnsafePathError: _not_found,
            HTTPException: _http_error,
            SamplemillError: _bad_request,
        },
    )
    app.state.web = web
    app.state.token = token
    app.state.loopback = loopback
    app.add_middleware(Guard, csrf=web.csrf, token=token, loopback=loopback)
    return app


def format_duration(seconds: float | None) -> str:
    """Seconds as m:ss or h:mm:ss ('-' for none)."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def format_number(value: Any) -> str:
    """A table cell for people: floats to 4 significant digits, none as empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)
