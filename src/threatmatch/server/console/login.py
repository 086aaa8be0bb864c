"""Console login and logout with an API token; the session lives in a signed HttpOnly cookie."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from threatmatch.server.auth import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    check_csrf,
    check_login_csrf,
    set_cookie,
)
from threatmatch.server.console.render import redirect, render
from threatmatch.server.deps import ServiceDep, SessionDep, current_session

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/enrichments"


def _login_page(request: Request, next_url: str, error: str | None = None, status: int = 200) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, status=status, login_csrf=nonce, next_url=next_url, error=error)
    set_cookie(response, LOGIN_CSRF_COOKIE, nonce, max_age=3600, secure=request.url.scheme == "https")
    return response


@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/enrichments" if current_session(request) else "/login", status_code=303)


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    return _login_page(request, _safe_next(next))


@router.post("/login")
async def login(request: Request, service: ServiceDep) -> Response:
    form = await request.form()
    check_login_csrf(request, str(form.get(CSRF_FIELD) or ""))
    next_url = _safe_next(str(form.get("next") or ""))
    token = str(form.get("token") or "").strip()
    if not token:
        return _login_page(request, next_url, "Enter an API token (create one with `threatmatch tokens create NAME`).",
                           status=400)
    info = service.tokens().verify(token)
    if info is None:
        return _login_page(request, next_url, "This API token is invalid or revoked.", status=401)
    cookie, _ = service.signer.issue(info)
    response = RedirectResponse(next_url, status_code=303)
    set_cookie(response, SESSION_COOKIE, cookie, max_age=service.settings.session_ttl_s,
               secure=service.settings.secure_cookies)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(request: Request, session: SessionDep) -> Response:
    form = await request.form()
    check_csrf(session, str(form.get(CSRF_FIELD) or ""))
    response = redirect(request, "/login", "Signed out.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
