"""Enriched log types per provider and custom log types over real HTTP, with precise selector/schema errors."""

from __future__ import annotations

import orjson
import pytest
from tests.server.harness import LiveServer

CUSTOM = b"""schema: Custom.Proxy
description: Example proxy log (JSON lines)
fields:
  - {name: time, type: timestamp, timeFormat: rfc3339, isEventTime: true}
  - {name: client, type: string, indicators: [ip]}
  - {name: url, type: string, indicators: [url]}
  - {name: user, type: object, fields: [{name: email, type: string, indicators: [email]}]}
"""


@pytest.fixture(scope="module", autouse=True)
def provider(live: LiveServer) -> None:
    answer = live.client.post("/api/v1/providers", json={
        "name": "cfg", "subdomain": "api", "username": "u@example.com", "api_token": "k", "query": "type=ip"})
    assert answer.status_code == 201, answer.text


class TestEnrichedLogTypes:
    def test_default_is_every_log_type_with_indicator_fields(self, live: LiveServer) -> None:
        """A new provider enriches every log type, each with its p_any_* indicator fields as selectors."""
        listed = live.client.get("/api/v1/providers/cfg/logtypes").json()["log_types"]
        names = {row["log_type"] for row in listed}
        assert "AWS.CloudTrail" in names and "Okta.SystemLog" in names
        trail = next(row for row in listed if row["log_type"] == "AWS.CloudTrail")
        assert "p_any_ip_addresses" in trail["selectors"] and trail["customized"] is False

    def test_json_path_selector_then_remove(self, live: LiveServer) -> None:
        """A JSON-path selector is stored; removing the log type drops it from the enabled list."""
        added = live.client.post("/api/v1/providers/cfg/logtypes",
                                 json={"log_type": "Okta.SystemLog", "selectors": ["$.client.ipAddress"]})
        assert added.status_code == 201, added.text
        assert added.json()["selectors"] == ["$.client.ipAddress"]
        assert live.client.delete("/api/v1/providers/cfg/logtypes/Okta.SystemLog").status_code == 204
        enabled = {row["log_type"] for row in live.client.get("/api/v1/providers/cfg/logtypes").json()["log_types"]}
        assert "Okta.SystemLog" not in enabled
        every = live.client.get("/api/v1/providers/cfg/logtypes?all=true").json()["log_types"]
        okta = next(row for row in every if row["log_type"] == "Okta.SystemLog")
        assert okta["enabled"] is False and okta["selectors"] == ["$.client.ipAddress"]
        again = live.client.put("/api/v1/providers/cfg/logtypes/Okta.SystemLog", json={"enabled": True})
        assert again.json()["enabled"] is True

    @pytest.mark.parametrize(("selectors", "words"), [
        (["$.no.such.field"], "no.such.field"),
        (["$..bad["], "selector"),
        ([], "at least one selector"),
        (["p_any_ip_addresses", "p_any_ip_addresses"], "repeats"),
    ])
    def test_invalid_selectors(self, live: LiveServer, selectors: list[str], words: str) -> None:
        """Invalid selectors are refused with 422, field 'selectors' and the reason."""
        answer = live.client.put("/api/v1/providers/cfg/logtypes/AWS.CloudTrail", json={"selectors": selectors})
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["field"] == "selectors" and words in error["message"]

    def test_unknown_log_type(self, live: LiveServer) -> None:
        """Adding an unknown log type is 404 with a suggestion."""
        answer = live.client.post("/api/v1/providers/cfg/logtypes", json={"log_type": "okta.systemlog"})
        assert answer.status_code == 404 and "Okta.SystemLog" in answer.json()["error"]["message"]


class TestLogTypes:
    def test_list_and_get(self, live: LiveServer) -> None:
        """Log types are listed with their indicator fields; one log type shows its field paths."""
        listed = live.client.get("/api/v1/logtypes").json()["log_types"]
        assert any(row["name"] == "AWS.CloudTrail" and row["builtin"] for row in listed)
        one = live.client.get("/api/v1/logtypes/AWS.CloudTrail").json()
        assert "$.sourceIPAddress" in one["field_paths"]

    def test_add_custom_schema_and_ingest(self, live: LiveServer) -> None:
        """A custom schema is added, listed, and its events can be ingested at once."""
        added = live.client.post("/api/v1/logtypes", content=CUSTOM, headers={"Content-Type": "application/yaml"})
        assert added.status_code == 201, added.text
        assert "$.user.email" in added.json()["field_paths"]
        assert "p_any_ip_addresses" in added.json()["indicator_fields"] and added.json()["warnings"] == []
        report = live.client.post("/api/v1/ingest/Custom.Proxy", content=b'{"time":"2024-01-01T00:00:00Z",'
                                  b'"client":"192.0.2.9","url":"http://x.example/a","user":{"email":"a@b.example"}}')
        assert report.status_code == 200 and report.json()["accepted"] == 1

    def test_add_schema_with_keys_not_applied(self, live: LiveServer) -> None:
        """A schema using Panther keys threatmatch does not apply is added, and the answer (and the log type's
        page) names each with its path."""
        body = b"schema: Custom.Warned\nfields:\n  - {name: a, type: string, concealed: true}\n"
        added = live.client.post("/api/v1/logtypes", content=body)
        assert added.status_code == 201, added.text
        expected = ["fields[0].concealed: not applied by threatmatch: the value is stored and shown as sent (not "
                    "masked)"]
        assert added.json()["warnings"] == expected
        assert live.client.get("/api/v1/logtypes/Custom.Warned").json()["warnings"] == expected

    def test_validate_and_embedded_json_apply_to_ingested_events(self, live: LiveServer) -> None:
        """A schema's `validate` rejects the lines breaking it (reason in the answer and the lake's rejects) and its
        `isEmbeddedJSON` field is stored decoded, its indicators extracted."""
        body = b"""schema: Custom.Gate
fields:
  - {name: action, type: string, required: true, validate: {allow: [allow, block]}}
  - name: detail
    type: object
    isEmbeddedJSON: true
    fields: [{name: client, type: string, indicators: [ip], validate: {ip: ipv4}}]
"""
        added = live.client.post("/api/v1/logtypes", content=body)
        assert added.status_code == 201, added.text
        assert added.json()["warnings"] == [] and "p_any_ip_addresses" in added.json()["indicator_fields"]
        lines = [b'{"action":"allow","detail":"{\\"client\\":\\"192.0.2.44\\"}"}',
                 b'{"action":"<b>drop</b>","detail":"{}"}',
                 b'{"action":"block","detail":"{\\"client\\":\\"2001:db8::1\\"}"}']
        report = live.client.post("/api/v1/ingest/Custom.Gate", content=b"\n".join(lines)).json()
        assert (report["lines"], report["accepted"], report["rejected"]) == (3, 1, 2), report
        suffix = ": the event does not match log type Custom.Gate"
        assert [(r["line"], r["reason"]) for r in report["rejects"]] == [
            (2, f'field action: "<b>drop</b>" is not in validate.allow ("allow", "block"){suffix}'),
            (3, f'field detail.client: "2001:db8::1" is not an IPv4 address (validate.ip: ipv4){suffix}')]
        stored = live.client.post("/api/v1/search", json={
            "sql": "SELECT detail, p_any_ip_addresses FROM custom_gate"}).json()["rows"]
        assert [[orjson.loads(detail), ips] for detail, ips in stored] == [[{"client": "192.0.2.44"}, ["192.0.2.44"]]]
        kept = live.client.post("/api/v1/search", json={
            "sql": "SELECT line, raw FROM rejects WHERE log_type = 'Custom.Gate' ORDER BY line"}).json()["rows"]
        assert kept == [[2, lines[1].decode()], [3, lines[2].decode()]]

    def test_fastmatch_and_regex_schemas_ingest_text_lines(self, live: LiveServer) -> None:
        """Panther's text parsers in a schema added over the API: text lines are parsed and enriched, a line that
        fits no pattern is rejected with where it stopped; a regex RE2 refuses is a 422 naming its reason."""
        body = b"""schema: Custom.Fw
parser:
  fastmatch:
    match: ['%{time} %{action} src=%{src} dst=%{dst}']
fields:
  - {name: time, type: timestamp, timeFormat: rfc3339, isEventTime: true}
  - {name: action, type: string}
  - {name: src, type: string, indicators: [ip]}
  - {name: dst, type: string, indicators: [ip]}
"""
        added = live.client.post("/api/v1/logtypes", content=body)
        assert added.status_code == 201
        assert added.json()["fields"][2] == {"path": "src", "type": "string", "indicators": "ip", "notes": ""}
        assert added.json()["fields"][0]["notes"] == "event time; format rfc3339"
        console = live.console()
        page = console.get("/logtypes/Custom.Fw")
        assert page.status_code == 200 and 'id="fields-table"' in page.text and "fastmatch" in page.text
        missing = console.get("/logtypes/Custom.Nope")
        assert missing.status_code == 404 and "unknown log type" in missing.text
        report = live.client.post("/api/v1/ingest/Custom.Fw", content=b"2026-01-01T00:00:00Z DROP src=198.51.100.7 "
                                  b"dst=10.0.0.5\n2026-01-01T00:00:01Z ACCEPT 198.51.100.8").json()
        assert (report["accepted"], report["rejected"]) == (1, 1), report
        assert report["rejects"][0]["reason"] == ("the line does not match the fastmatch pattern: expected ' src=' "
                                                  "after %{action} (from character 22)")
        rows = live.client.post("/api/v1/search", json={
            "sql": "SELECT action, p_any_ip_addresses, p_event_time FROM custom_fw"}).json()["rows"]
        assert rows == [["DROP", ["10.0.0.5", "198.51.100.7"], "2026-01-01 00:00:00.000"]]
        refused = live.client.post("/api/v1/logtypes", content=b"schema: Custom.Rx\nparser:\n  regex:\n    match: "
                                   b"['(?<=a)%{WORD:w}']\nfields:\n  - {name: w, type: string}\n")
        assert refused.status_code == 422
        assert "parser.regex.match: not a valid RE2 expression: invalid perl operator: (?<=" in \
            refused.json()["error"]["message"]

    def test_try_a_schema_on_sample_lines_without_saving_it(self, live: LiveServer) -> None:
        """`POST /api/v1/logtypes/test` parses and normalises sample lines as ingestion would and saves nothing; a bad
        schema or body is a 422 saying what is wrong."""
        schema = ("schema: Custom.Tried\nparser:\n  regex:\n"
                  "    match: ['^%{IP:client} %{WORD:verb} %{GREEDYDATA:path}$']\n"
                  "fields:\n  - {name: client, type: string, indicators: [ip]}\n  - {name: verb, type: string}\n"
                  "  - {name: path, type: string}\n")
        answer = live.client.post("/api/v1/logtypes/test", json={
            "schema": schema, "lines": "192.0.2.7 GET /index.html\n<img src=x onerror=alert(1)>\n"})
        assert answer.status_code == 200, answer.text
        data = answer.json()
        assert (data["log_type"], data["lines"], data["parsed"], data["rejected"]) == ("Custom.Tried", 2, 1, 1)
        assert data["events"][0]["p_any_ip_addresses"] == ["192.0.2.7"] and data["events"][0]["verb"] == "GET"
        assert data["rejects"] == [{"line": 2, "raw": "<img src=x onerror=alert(1)>",
                                    "reason": "the line does not match the regex pattern of this log type"}]
        assert live.client.get("/api/v1/logtypes/Custom.Tried").status_code == 404  # nothing saved
        bad = live.client.post("/api/v1/logtypes/test", json={"schema": schema.replace("%{WORD:verb}", "%{WROD:verb}"),
                                                             "lines": "x"})
        assert bad.status_code == 422 and "unknown pattern %{WROD}" in bad.json()["error"]["message"]
        missing = live.client.post("/api/v1/logtypes/test", json={"schema": schema})
        assert missing.status_code == 422 and "lines: Field required" in missing.json()["error"]["message"]
        assert live.anonymous().post("/api/v1/logtypes/test", json={"schema": schema, "lines": ""}).status_code == 401

    @pytest.mark.parametrize(("body", "words"), [
        (b"fields: []", "needs a name"),
        (b"schema: [unclosed", "not valid YAML"),
        (b"- a\n- b", "must be a mapping"),
        (b"schema: AWS.CloudTrail\nfields:\n  - {name: a, type: string}", "built in"),
        (b"schema: Custom.Bad\nfields:\n  - {name: a, type: strang}", "strang"),
    ])
    def test_bad_schemas(self, live: LiveServer, body: bytes, words: str) -> None:
        """Bad schemas are refused with 422 saying what is wrong (and where)."""
        answer = live.client.post("/api/v1/logtypes", content=body)
        assert answer.status_code == 422, answer.text
        assert words in answer.json()["error"]["message"]
