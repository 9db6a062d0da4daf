"""The web app factory: settings, catalog engine, media cache and templates shared by the
routes of each area (jobs, queue, catalog, sample map, media), behind the security guard."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from core.errors import NotFoundError, SamplemillError, UnsafePathError
from core.settings import Settings, get_settings
from db.engine import get_engine
from scheduler.web import catalog, jobs, media, queue, samplemap
from scheduler.web.cache import DiskCache
from scheduler.web.context import (
    HERE,
    WebContext,
    ctx,
    finite,
    format_duration,
    format_number,
    json_default,
    json_response,
    wants_json,
)
from scheduler.web.security import (
    TOKEN_COOKIE,
    Guard,
    is_loopback,
    new_secret,
    same,
)


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
    settings = settings or get_settings()
    loopback = is_loopback(host)
    token = token or settings.web_token or None
    if token is None and not loopback:
        token = new_secret()
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["duration"] = format_duration
    templates.env.filters["num"] = format_number
    templates.env.filters["tojson_safe"] = lambda v: json.dumps(finite(v), default=json_default)
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
