"""FastAPI dependencies: the service, the authenticated API caller, the console session."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from threatmatch.server.auth import SESSION_COOKIE, Session, bearer_token
from threatmatch.server.errors import ApiError
from threatmatch.server.service import Service
from threatmatch.server.tokens import TokenInfo


class LoginRequired(Exception):
    """A console page was requested without a valid session: redirect to /login."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def current_session(request: Request) -> Session | None:
    """The console session of this request, if its cookie is valid and its token still active."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    service = get_service(request)
    session = service.signer.verify(cookie)
    if session is None or not service.tokens().is_active(session.token_id):
        return None
    return session


def require_token(request: Request) -> TokenInfo:
    """The API caller's token; 401 when missing, malformed, unknown or revoked."""
    token = bearer_token(request)
    info = get_service(request).tokens().verify(token)
    if info is None:
        raise ApiError(401, "unauthorized", "invalid or revoked API token: check the value, or create a new one "
                       "with `threatmatch tokens create NAME`",
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return info


def require_token_or_session(request: Request) -> None:
    """API docs are readable with a bearer token or from a logged-in console."""
    if request.headers.get("authorization") or current_session(request) is None:
        require_token(request)


def require_session(request: Request) -> Session:
    """The console session, or a redirect to the login page."""
    session = current_session(request)
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return session


ServiceDep = Annotated[Service, Depends(get_service)]
TokenDep = Annotated[TokenInfo, Depends(require_token)]
SessionDep = Annotated[Session, Depends(require_session)]
