"""Template rendering for the console. Autoescape is on for every template and every string."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from threatmatch import __version__
from threatmatch.server.auth import CSRF_FIELD, Session, set_cookie

FLASH_COOKIE = "tm_flash"

_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,  # never off
                   trim_blocks=True, lstrip_blocks=True)

def _pretty_json(value: Any) -> str:
    """Indented JSON as a plain string: autoescape then escapes it like any other text (never marked safe)."""
    import orjson

    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS, default=str).decode()


_env.filters["tojson_pretty"] = _pretty_json

NAV = (("Enrichments", "/enrichments"), ("Events", "/events"), ("Alerts", "/alerts"), ("Log types", "/logtypes"),
       ("Detections", "/rules"), ("Alert destinations", "/destinations"))


def _flash(request: Request) -> tuple[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        kind, _, text = base64.urlsafe_b64decode(raw.encode()).decode().partition("|")
    except ValueError:
        return None
    return (kind if kind in ("ok", "error") else "ok", text)


def render(request: Request, template: str, session: Session | None, *, status: int = 200,
           **context: Any) -> HTMLResponse:
    """Render ``template`` with the layout context (nav, CSRF token, flash message)."""
    flash = _flash(request)
    page = _env.get_template(template).render(
        request_path=request.url.path, session=session, csrf_field=CSRF_FIELD,
        csrf_token=session.csrf if session else "", nav=NAV, version=__version__, flash=flash, **context)
    response = HTMLResponse(page, status_code=status)
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(request: Request, url: str, message: str | None = None, *, kind: str = "ok") -> Response:
    """Post/Redirect/Get with an optional one-shot message shown on the next page."""
    response = RedirectResponse(url, status_code=303)
    if message:
        value = base64.urlsafe_b64encode(f"{kind}|{message[:1500]}".encode()).decode()
        set_cookie(response, FLASH_COOKIE, value, max_age=60, secure=request.url.scheme == "https")
    return response
