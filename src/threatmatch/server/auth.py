"""Who is calling: API bearer tokens, console sessions (signed cookie) and CSRF tokens.

- API: ``Authorization: Bearer tm_...`` checked against the hashed token store on every request.
- Console: logging in with the same token sets ``tm_session``, an HMAC-SHA256-signed cookie
  (HttpOnly, SameSite=Strict) naming the token id, an expiry and a per-session CSRF secret.
  Every request re-checks that the token is still active, so revoking a token ends its sessions.
- CSRF: every console form carries the session's CSRF secret in a hidden field (session-bound);
  the login form, which has no session yet, uses a double-submit cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from threatmatch.server.errors import ApiError
from threatmatch.server.tokens import TokenInfo

SESSION_COOKIE = "tm_session"
LOGIN_CSRF_COOKIE = "tm_login_csrf"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class Session:
    """A verified console session."""

    token_id: int
    name: str
    expires: int
    csrf: str


def load_or_create_key(path: Path) -> bytes:
    """The 32-byte session signing key kept beside the database (mode 0600), created on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    return path.read_bytes()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Signs and verifies session cookies with HMAC-SHA256."""

    def __init__(self, key: bytes, ttl_s: int) -> None:
        self._key = key
        self._ttl = ttl_s

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, b"tm-session-v1." + payload, hashlib.sha256).digest()

    def issue(self, token: TokenInfo, now: float | None = None) -> tuple[str, Session]:
        """A new cookie value and the session it carries."""
        expires = int((now or time.time()) + self._ttl)
        session = Session(token.id, token.name, expires, secrets.token_urlsafe(24))
        payload = orjson.dumps({"t": session.token_id, "n": session.name, "e": session.expires, "c": session.csrf})
        return f"{_b64(payload)}.{_b64(self._mac(payload))}", session

    def verify(self, cookie: str, now: float | None = None) -> Session | None:
        """The session in a cookie, or None when it is forged, malformed or expired."""
        try:
            body, mac = cookie.split(".", 1)
            payload = _unb64(body)
            if not hmac.compare_digest(_unb64(mac), self._mac(payload)):
                return None
            data: dict[str, Any] = orjson.loads(payload)
            session = Session(int(data["t"]), str(data["n"]), int(data["e"]), str(data["c"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires < (now or time.time()):
            return None
        return session


def bearer_token(request: Request) -> str:
    """The bearer token of an API request; 401 with the fix when it is missing or malformed."""
    header = request.headers.get("authorization")
    challenge = {"WWW-Authenticate": 'Bearer realm="threatmatch"'}
    if not header:
        raise ApiError(401, "unauthorized", "missing API token: send 'Authorization: Bearer <token>' "
                       "(create one with `threatmatch tokens create NAME`)", headers=challenge)
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, "unauthorized", "malformed Authorization header: expected 'Bearer <token>'",
                       headers=challenge)
    return value.strip()


def check_csrf(session: Session, submitted: str | None) -> None:
    """Reject a console form whose CSRF field does not match its session."""
    if not submitted or not hmac.compare_digest(submitted.encode(), session.csrf.encode()):
        raise ApiError(403, "csrf", "the form's CSRF token is missing or stale: reload the page and submit again")


def check_login_csrf(request: Request, submitted: str | None) -> None:
    """Double-submit check for the login form (no session exists yet)."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not cookie or not submitted or not hmac.compare_digest(cookie.encode(), submitted.encode()):
        raise ApiError(403, "csrf", "the login form expired or cookies are blocked: reload the page and retry")


def set_cookie(response: Response, name: str, value: str, *, max_age: int, secure: bool) -> None:
    """Set a cookie that scripts cannot read and other sites cannot send."""
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict", secure=secure, path="/")
