"""Authentication over real HTTP: bearer tokens for the API, a signed session cookie and CSRF for the console."""

from __future__ import annotations

import re
import sqlite3

import httpx
import pytest
from tests.server.harness import LiveServer, create_token

from threatmatch.server.tokens import TokenStore
from threatmatch.storage.db import connect


def _login_form(client: httpx.Client) -> str:
    page = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "the login page carries a CSRF field"
    return match.group(1)


def _login(live: LiveServer, token: str) -> httpx.Client:
    client = live.anonymous()
    csrf = _login_form(client)
    answer = client.post("/login", data={"csrf_token": csrf, "token": token, "next": "/enrichments"})
    assert answer.status_code == 303, answer.text
    return client


class TestApiTokens:
    def test_healthz_needs_no_token(self, live: LiveServer) -> None:
        """GET /healthz answers 200 without credentials and reveals only status and version."""
        answer = live.anonymous().get("/healthz")
        assert answer.status_code == 200
        assert answer.json()["status"] == "ok"

    @pytest.mark.parametrize("path", ["/metrics", "/openapi.json", "/docs", "/api/v1/providers"])
    def test_missing_token_is_401_with_the_fix(self, live: LiveServer, path: str) -> None:
        """Every other endpoint refuses a request without a token and says how to get one."""
        answer = live.anonymous().get(path)
        assert answer.status_code == 401
        error = answer.json()["error"]
        assert error["code"] == "unauthorized"
        assert "threatmatch tokens create" in error["message"]
        assert answer.headers["www-authenticate"].startswith("Bearer")

    def test_malformed_header_is_401(self, live: LiveServer) -> None:
        """A non-Bearer Authorization header is refused with a precise message."""
        answer = live.anonymous().get("/metrics", headers={"Authorization": "Basic Zm9vOmJhcg=="})
        assert answer.status_code == 401
        assert "expected 'Bearer <token>'" in answer.json()["error"]["message"]

    def test_wrong_token_is_401(self, live: LiveServer) -> None:
        """An unknown token is refused."""
        answer = live.anonymous().get("/metrics", headers={"Authorization": "Bearer tm_not-a-real-token"})
        assert answer.status_code == 401
        assert "invalid or revoked" in answer.json()["error"]["message"]

    def test_valid_token_reads_metrics(self, live: LiveServer) -> None:
        """With the token, /metrics serves the Prometheus exposition of this service."""
        answer = live.client.get("/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        assert "threatmatch_events_received_total" in answer.text or "# HELP threatmatch_events_received" in answer.text

    def test_revoked_token_stops_working(self, live: LiveServer) -> None:
        """Revoking a token makes the next request with it fail."""
        token = create_token(live.home, "short-lived")
        headers = {"Authorization": f"Bearer {token}"}
        assert live.anonymous().get("/metrics", headers=headers).status_code == 200
        conn = connect(live.home.database)
        TokenStore(conn).revoke("short-lived")
        conn.close()
        assert live.anonymous().get("/metrics", headers=headers).status_code == 401

    def test_only_the_digest_is_stored(self, live: LiveServer) -> None:
        """The database holds the SHA-256 of each token, never the token."""
        conn = sqlite3.connect(live.home.database)
        rows = conn.execute("SELECT digest, hint FROM api_tokens").fetchall()
        conn.close()
        dump = repr(rows)
        assert live.token not in dump
        assert any(len(digest) == 64 for digest, _ in rows)

    def test_openapi_lists_the_api(self, live: LiveServer) -> None:
        """The OpenAPI document is served to an authenticated caller."""
        answer = live.client.get("/openapi.json")
        assert answer.status_code == 200
        assert "/healthz" in answer.json()["paths"]


class TestConsoleSession:
    def test_pages_redirect_to_login(self, live: LiveServer) -> None:
        """A console page without a session redirects to /login, remembering the target."""
        answer = live.anonymous().get("/enrichments")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login?next=/enrichments"

    def test_login_sets_a_strict_httponly_cookie(self, live: LiveServer) -> None:
        """Logging in with the API token sets an HttpOnly, SameSite=Strict session cookie."""
        client = live.anonymous()
        csrf = _login_form(client)
        answer = client.post("/login", data={"csrf_token": csrf, "token": live.token, "next": "/enrichments"})
        assert answer.status_code == 303
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("tm_session=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert live.token not in cookie

    def test_login_with_a_wrong_token_is_refused(self, live: LiveServer) -> None:
        """A wrong token re-renders the form with an error and sets no session."""
        client = live.anonymous()
        csrf = _login_form(client)
        answer = client.post("/login", data={"csrf_token": csrf, "token": "tm_wrong"})
        assert answer.status_code == 401
        assert "invalid or revoked" in answer.text
        assert "tm_session" not in client.cookies

    def test_login_without_csrf_is_refused(self, live: LiveServer) -> None:
        """The login form is CSRF-protected (double-submit cookie)."""
        answer = live.anonymous().post("/login", data={"token": live.token})
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "csrf"

    def test_forged_session_cookie_is_ignored(self, live: LiveServer) -> None:
        """A session cookie with a bad signature counts as no session."""
        client = live.anonymous()
        client.cookies.set("tm_session", "eyJ0IjoxfQ.AAAA")
        assert client.get("/enrichments").status_code == 303

    def test_logout_requires_csrf(self, live: LiveServer) -> None:
        """Signing out is a form post that needs the session's CSRF token."""
        client = _login(live, live.token)
        assert client.post("/logout", data={}).status_code == 403
        page = client.get("/login")  # any page rendering the nav carries the session CSRF token
        assert page.status_code == 200

    def test_security_headers(self, live: LiveServer) -> None:
        """Every response carries a same-origin CSP and anti-framing headers."""
        answer = live.anonymous().get("/login")
        assert answer.headers["content-security-policy"].startswith("default-src 'self'")
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"


class TestConsoleCsrf:
    @pytest.mark.parametrize("path", ["/enrichments/new/anomali", "/enrichments/new/anomali/save",
                                      "/enrichments/x/sync", "/enrichments/x/delete", "/enrichments/x/logtypes/edit",
                                      "/logout"])
    def test_every_form_needs_the_csrf_token(self, live: LiveServer, path: str) -> None:
        """Each console form post without the session's CSRF token is refused with 403 before doing anything."""
        client = _login(live, live.token)
        answer = client.post(path, data={"name": "x"})
        assert answer.status_code == 403, (path, answer.status_code)
        wrong = client.post(path, data={"name": "x", "csrf_token": "forged"})
        assert wrong.status_code == 403

    def test_error_pages_are_html_for_browsers(self, live: LiveServer) -> None:
        """A browser gets an HTML error page (escaped), the API gets JSON."""
        client = _login(live, live.token)
        page = client.get("/enrichments/%3Cscript%3Ealert(1)", headers={"Accept": "text/html"})
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text
        headers = {"Accept": "text/html", "Authorization": live.client.headers["Authorization"]}
        api = client.get("/api/v1/providers/nope", headers=headers)
        assert api.headers["content-type"] == "application/json"
