"""Providers over real HTTP: create, read, change, delete; every bad field named; the token never comes back."""

from __future__ import annotations

from typing import Any

import pytest
from tests.server.harness import LiveServer, free_port

TOKEN = "s3cr3t-provider-token-value"


def settings(**overrides: Any) -> dict[str, Any]:
    base = {"name": "anomali", "subdomain": "api", "username": "analyst@example.com", "api_token": TOKEN,
            "query": 'feed_id=42 and status="active"', "refresh_minutes": 60}
    base.update(overrides)
    return base


class TestCreate:
    def test_create_then_get(self, live: LiveServer) -> None:
        """A created provider is listed with its settings and an empty status, and no token anywhere."""
        created = live.client.post("/api/v1/providers", json=settings(name="crud-one"))
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["base_url"] == "https://api.threatstream.com"
        assert body["status"]["last_success"] is None and body["status"]["rows"] == 0
        listed = live.client.get("/api/v1/providers")
        assert "crud-one" in [p["name"] for p in listed.json()["providers"]]
        for answer in (created, listed, live.client.get("/api/v1/providers/crud-one")):
            assert TOKEN not in answer.text
            assert "api_token" not in answer.text and "token" not in answer.json().get("status", {})

    def test_duplicate_name_is_409(self, live: LiveServer) -> None:
        """Creating a second provider with the same name is refused."""
        live.client.post("/api/v1/providers", json=settings(name="dup"))
        answer = live.client.post("/api/v1/providers", json=settings(name="dup"))
        assert answer.status_code == 409
        assert answer.json()["error"]["field"] == "name"

    @pytest.mark.parametrize(("field", "value", "message"), [
        ("refresh_minutes", 30, "at least 60 minutes (got 30)"),
        ("refresh_minutes", 59, "at least 60 minutes (got 59)"),
        ("query", 'feed_id=42 and (status="active"', "at position"),
        ("query", "nosuchfield=1", "at position 0"),
        ("query", "", "query is required"),
        ("name", "", "Name is required"),
        ("name", "<script>", "invalid provider name"),
        ("subdomain", "not a host!", "Anomali subdomain"),
        ("username", "a:b", "must not contain"),
        ("api_token", "", "API Token is required"),
    ])
    def test_bad_field_is_422_naming_it(self, live: LiveServer, field: str, value: Any, message: str) -> None:
        """Each invalid setting is refused with 422, the field's name and a message saying how to fix it."""
        answer = live.client.post("/api/v1/providers", json=settings(**{"name": "bad-" + field, field: value}))
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["field"] == field
        assert message in error["message"]
        assert TOKEN not in answer.text

    def test_unknown_field_is_refused(self, live: LiveServer) -> None:
        """A misspelt field is an error, not silently ignored."""
        answer = live.client.post("/api/v1/providers", json=settings(name="typo", refresh=90))
        assert answer.status_code == 422
        assert answer.json()["error"]["field"] == "refresh"

    def test_wrong_type_is_refused(self, live: LiveServer) -> None:
        """A non-integer refresh period is refused with the field named."""
        answer = live.client.post("/api/v1/providers", json=settings(name="typed", refresh_minutes="soon"))
        assert answer.status_code == 422
        assert answer.json()["error"]["field"] == "refresh_minutes"

    def test_malformed_json_is_refused(self, live: LiveServer) -> None:
        """A body that is not JSON gets a 422, not a 500."""
        answer = live.client.post("/api/v1/providers", content=b"{not json",
                                  headers={"Content-Type": "application/json"})
        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == "invalid"


class TestChangeAndDelete:
    def test_patch_keeps_the_token_and_validates(self, live: LiveServer) -> None:
        """PATCH changes only the given fields; refresh below 60 is refused; the token is never echoed."""
        live.client.post("/api/v1/providers", json=settings(name="patchme"))
        changed = live.client.patch("/api/v1/providers/patchme", json={"refresh_minutes": 120})
        assert changed.status_code == 200, changed.text
        assert changed.json()["refresh_minutes"] == 120 and TOKEN not in changed.text
        refused = live.client.patch("/api/v1/providers/patchme", json={"refresh_minutes": 10})
        assert refused.status_code == 422 and refused.json()["error"]["field"] == "refresh_minutes"
        assert live.service.repo().get("patchme").token.reveal() == TOKEN

    def test_delete(self, live: LiveServer) -> None:
        """DELETE removes the provider; a second DELETE is 404 with a hint."""
        live.client.post("/api/v1/providers", json=settings(name="gone"))
        assert live.client.delete("/api/v1/providers/gone").status_code == 204
        again = live.client.delete("/api/v1/providers/gone")
        assert again.status_code == 404
        assert "no provider named 'gone'" in again.json()["error"]["message"]

    def test_unknown_provider_everywhere_is_404(self, live: LiveServer) -> None:
        """Status, rows, sync and get of an unknown provider are 404s."""
        for method, path in (("GET", "/api/v1/providers/nope"), ("GET", "/api/v1/providers/nope/status"),
                             ("GET", "/api/v1/providers/nope/rows"), ("POST", "/api/v1/providers/nope/sync")):
            answer = live.client.request(method, path)
            assert answer.status_code == 404, (path, answer.text)


class TestConnection:
    def test_unreachable_host_is_502(self, live: LiveServer) -> None:
        """Testing settings that point at a closed port reports the network failure, token not included."""
        url = f"http://127.0.0.1:{free_port()}"
        answer = live.client.post("/api/v1/providers/test", json=settings(subdomain=url))
        assert answer.status_code == 502, answer.text
        assert answer.json()["error"]["code"] == "provider_unreachable"
        assert TOKEN not in answer.text


class TestRowsFilters:
    def test_bad_filters(self, live: LiveServer) -> None:
        """Row filters are checked: status, confidence range, page size."""
        live.client.post("/api/v1/providers", json=settings(name="rowsbad"))
        cases = [("status=alive", "status"), ("min_confidence=101", "min_confidence"), ("limit=0", "limit"),
                 ("limit=5000", "limit"), ("offset=-1", "offset"), ("min_confidence=high", "min_confidence")]
        for query, field in cases:
            answer = live.client.get(f"/api/v1/providers/rowsbad/rows?{query}")
            assert answer.status_code == 422, query
            assert answer.json()["error"]["field"] == field, query

    def test_never_synced_table_is_empty(self, live: LiveServer) -> None:
        """A provider that never synced has no rows yet (not an error)."""
        live.client.post("/api/v1/providers", json=settings(name="rowsempty"))
        answer = live.client.get("/api/v1/providers/rowsempty/rows")
        assert answer.status_code == 200
        assert answer.json()["total"] == 0
