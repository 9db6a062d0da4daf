"""What every web route shares: the app's context, JSON answers, form and CSRF helpers, filters.

Route modules and the app factory both import this; it imports none of them.
"""

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
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from core.settings import Settings
from db.engine import session_scope
from scheduler.web.cache import DiskCache
from scheduler.web.security import CSRF_FIELD, CSRF_HEADER, same

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


def json_default(value: Any) -> Any:
    """How JSON writes what it does not know: datetimes as ISO text, paths, numpy scalars."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds") + "Z"
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def finite(value: Any) -> Any:
    """The value with every non-finite float, however deeply nested, as None (JSON null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON with datetimes as ISO text and NaN as null."""
    body = json.dumps(finite(data), default=json_default, separators=(",", ":"))
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
