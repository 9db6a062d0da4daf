"""`samplemill web [--host 127.0.0.1] [--port 8080]`: serve the web app with uvicorn."""

from __future__ import annotations

import click

from core.settings import get_settings
from scheduler.commands.errors import Command


@click.command("web", cls=Command)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; beyond loopback, actions need SAMPLEMILL_WEB_TOKEN.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
def web(host: str, port: int) -> None:
    """Watch jobs, browse the catalog and hear sample maps in a browser."""
    import uvicorn

    from scheduler.context import existing_catalog_engine
    from scheduler.web.app import create_app
    from scheduler.web.security import is_loopback

    settings = get_settings()
    existing_catalog_engine()  # a page that only reads never creates a catalog: say where
    app = create_app(settings, host=host)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"samplemill web on http://{shown}:{port}/  "
               f"(catalog {settings.resolved_catalog_url})")
    if not is_loopback(host):
        click.echo(f"bound beyond localhost: actions need the token; open "
                   f"http://{shown}:{port}/login?token={app.state.token}")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
