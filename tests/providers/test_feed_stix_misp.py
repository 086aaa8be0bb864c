"""STIX 2 bundles and MISP events as feeds: which values become entries, what is rejected and why, on the real
Unit 42, OASIS, ESET and PyMISP files in ``../shared/realdata/intel``."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import shared_path

from threatmatch.errors import ParseError
from threatmatch.providers.feed.config import make_feed_config
from threatmatch.providers.feed.misp import parse_misp
from threatmatch.providers.feed.parse import Entry, Rejected, parse_feed
from threatmatch.providers.feed.rows import build_row, classify, refang
from threatmatch.providers.feed.stix import parse_stix, pattern_values

CONFIG = make_feed_config(name="unit42", url="https://example.com/bundle.json", format="stix")
PT = "2026-12-01 12:00:00.000"


def real(*parts: str) -> bytes:
    return shared_path("realdata", "intel", *parts).read_bytes()


def kinds(items: list[Entry | Rejected]) -> Counter[str]:
    return Counter((classify(refang(item.value)) or ("rejected",))[0] for item in items if isinstance(item, Entry))


def indicator(pattern: str, **fields: Any) -> dict[str, Any]:
    return {"type": "indicator", "id": "indicator--1", "pattern": pattern, **fields}


def bundle(*objects: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": "bundle", "id": "bundle--1", "objects": list(objects)})


class TestPatterns:
    @pytest.mark.parametrize(("pattern", "values"), [
        ("[ipv4-addr:value = '198.51.100.1']", ["198.51.100.1"]),
        ("[ipv4-addr:value = '223.166.0.0/15']", ["223.166.0.0/15"]),
        ("[domain-name:value = 'evil.example' OR domain-name:value = 'bad.example']", ["evil.example", "bad.example"]),
        ("[url:value = 'http://a.example/x'] OR [ipv6-addr:value = '2001:db8::1']", ["http://a.example/x",
                                                                                       "2001:db8::1"]),
        ("[file:hashes.'SHA-256' = 'ab' OR file:hashes.MD5 = 'cd' OR file:hashes.sha1 = 'ef']", ["ab", "cd", "ef"]),
        ("[email-message:from_ref.value = 'phish@evil.example']", ["phish@evil.example"]),
        (r"[url:value = 'http://x.example/it\'s']", ["http://x.example/it's"]),
        ("[domain-name:value = 'ok.example' OR process:command_line = 'x']", ["ok.example"]),
    ])
    def test_values_compared_with_equals_on_matchable_paths(self, pattern: str, values: list[str]) -> None:
        """Each `=` comparison on a path threatmatch matches gives a value; OR keeps them all."""
        assert pattern_values(pattern) == (values, None)

    @pytest.mark.parametrize(("pattern", "reason"), [
        ("[x509-certificate:issuer = 'CN=WEBMAIL' AND x509-certificate:serial_number = '4c']", "several observations"),
        ("[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [domain-name:value = 'a.example']", "several observations"),
        ("[ipv4-addr:value = '1.2.3.4'] WITHIN 300 SECONDS", "several observations"),
        ("[ipv4-addr:value != '1.2.3.4']", "compares ipv4-addr:value !="),
        ("[process:command_line = 'cmd.exe /c whoami']", "compares process:command_line, not a value"),
        ("[file:name = 'evil.exe']", "compares file:name"),
        ("[]", "has no comparison"),
        ("[ipv4-addr:value = '1.2.3.4' #", "cannot be read at character"),
    ])
    def test_patterns_no_single_value_matches_say_why(self, pattern: str, reason: str) -> None:
        values, why = pattern_values(pattern)
        assert values == [] and why is not None and reason in why

    @settings(max_examples=200, deadline=None)
    @given(st.text(max_size=120))
    def test_never_raises(self, pattern: str) -> None:
        """Attacker-controlled patterns give values or a reason, never an exception."""
        values, why = pattern_values(pattern)
        assert (values == []) == (why is not None)


class TestStix:
    def test_unit42_bundle(self) -> None:
        """The Unit 42 AsyncRAT bundle (STIX 2.0): 19 indicators, 19 entries numbered by object position."""
        items = list(parse_stix(real("stix", "unit42", "2024-02-21-AsyncRAT.json")))
        assert not [item for item in items if isinstance(item, Rejected)]
        assert kinds(items) == {"url": 6, "domain": 5, "ip": 5, "md5": 3}
        ips = [item for item in items if isinstance(item, Entry) and item.value == "66.135.17.87"]
        assert [item.line for item in ips] == [16] and ips[0].extra["labels"] == ["malicious-activity"]
        assert ips[0].extra["stix_id"].startswith("indicator--") and ips[0].own["modified_ts"]

    def test_oasis_apt1_report(self) -> None:
        """APT1 (STIX 2.1): CIDR blocks, domains and MD5s become entries; the two x509 AND patterns are rejected."""
        items = list(parse_stix(real("stix", "oasis-examples", "threat-reports__apt1.json")))
        assert kinds(items) == {"cidr": 4, "domain": 3, "md5": 3}
        rejected = [item for item in items if isinstance(item, Rejected)]
        assert len(rejected) == 2 and all("several observations" in item.reason for item in rejected)

    def test_validity_revocation_confidence_and_other_pattern_languages(self) -> None:
        """valid_until becomes expiration_ts, confidence the row's; revoked and non-STIX patterns are rejected;
        other object types are not counted at all."""
        body = bundle(
            {"type": "malware", "id": "malware--1", "name": "x"},
            indicator("[ipv4-addr:value = '198.51.100.7']", valid_until="2025-01-01T00:00:00Z", confidence=35,
                      modified="2024-06-01T00:00:00.000Z", name="<b>C2</b>"),
            indicator("[ipv4-addr:value = '198.51.100.8']", revoked=True),
            indicator("title: x\ndetection: y", pattern_type="sigma"))
        first, revoked, sigma = parse_stix(body)
        assert isinstance(first, Entry) and first.line == 2
        assert first.own == {"modified_ts": "2024-06-01T00:00:00.000Z", "expiration_ts": "2025-01-01T00:00:00Z",
                             "confidence": 35}
        row = build_row(first.value, first.extra, line=first.line, config=CONFIG, parse_time=PT, row_id="r" * 32,
                        own=first.own)
        assert isinstance(row, dict)
        assert (row["confidence"], row["expiration_ts"], row["name"]) == (35, "2025-01-01T00:00:00Z", "<b>C2</b>")
        assert isinstance(revoked, Rejected) and "is revoked" in revoked.reason
        assert isinstance(sigma, Rejected) and "'sigma' pattern" in sigma.reason

    def test_envelopes_and_errors(self) -> None:
        """A TAXII envelope, a list and a single object are read; anything else is a ParseError."""
        one = indicator("[domain-name:value = 'a.example']")
        for body in (orjson.dumps({"objects": [one]}), orjson.dumps([one]), orjson.dumps(one)):
            assert [item.value for item in parse_stix(body) if isinstance(item, Entry)] == ["a.example"]
        with pytest.raises(ParseError, match="not valid JSON"):
            list(parse_stix(b"{nope"))
        with pytest.raises(ParseError, match="neither a bundle"):
            list(parse_stix(b'{"hello": 1}'))

    def test_every_real_bundle_reads(self) -> None:
        """Every STIX file in the real data parses (no exception) and each indicator is an entry or a reject."""
        for path in sorted(shared_path("realdata", "intel", "stix").rglob("*.json")):
            items = list(parse_feed(path.read_bytes(), "stix", None))
            objects = orjson.loads(path.read_bytes())
            listed = objects.get("objects", [objects]) if isinstance(objects, dict) else objects
            indicators = {n for n, o in enumerate(listed, 1) if o.get("type") == "indicator"}
            assert {item.line for item in items} == indicators, path.name


class TestMisp:
    def test_eset_glupteba_event(self) -> None:
        """ESET's Glupteba event (REST "response" list): to_ids domains, IPs, domain|ip pairs (two entries each)
        and filename|sha1 (the file name kept); the regkey is rejected."""
        items = list(parse_misp(real("misp", "eset", "glupteba__glupteba.misp-event.json")))
        assert kinds(items) == {"domain": 274, "ip": 44, "md5": 6}
        [rejected] = [item for item in items if isinstance(item, Rejected)]
        assert "MISP type 'regkey' is not an indicator" in rejected.reason
        assert max(item.line for item in items) == 321  # every attribute numbered once
        pair = [item for item in items if isinstance(item, Entry) and item.extra["misp_type"] == "domain|ip"
                and item.value in ("burnandfire5.com", "104.31.89.75")][:2]  # the first of its two pairs
        assert [item.value for item in pair] == ["burnandfire5.com", "104.31.89.75"]
        assert pair[0].line == pair[1].line and pair[0].extra["misp_type"] == "domain|ip"
        assert pair[0].extra["event_info"] == "Glupteba.AY research related IoCs" and pair[0].extra["tags"] == [
            "Glupteba"]
        hashed = next(item for item in items if isinstance(item, Entry) and item.extra["misp_type"] == "filename|sha1")
        assert hashed.extra["filename"] and len(hashed.value) == 40 and hashed.own["modified_ts"].endswith("Z")

    def test_context_attributes_are_rejected_with_the_reason(self) -> None:
        """ESET's Zebrocy event marks nothing to_ids: every attribute is rejected saying so, none lost."""
        items = list(parse_misp(real("misp", "eset", "sednit__2018-11-20_Zebrocy.json")))
        assert len(items) == 32 and all(isinstance(item, Rejected) and "to_ids false" in item.reason
                                        for item in items)

    def test_shapes_and_special_types(self) -> None:
        """A bare event, a feed event file, an attribute search answer; ip|port keeps the port; deleted skipped."""
        attributes = [
            {"type": "ip-dst|port", "value": "198.51.100.9|8443", "to_ids": True, "uuid": "u1", "category": "Network"},
            {"type": "hostname", "value": "c2.evil.example", "to_ids": "1", "comment": "<script>x</script>"},
            {"type": "url", "value": "http://evil.example/a", "to_ids": True, "deleted": True},
            {"type": "link", "value": "https://blog.example/report", "to_ids": True},
        ]
        search = orjson.dumps({"response": {"Attribute": attributes}})
        feed_event = orjson.dumps({"Event": {"info": "x", "uuid": "e1", "Attribute": attributes,
                                             "Object": [{"name": "domain-ip", "Attribute": [
                                                 {"type": "domain", "value": "obj.example", "to_ids": True}]}]}})
        for body in (search, feed_event, orjson.dumps(attributes and {"info": "bare", "Attribute": attributes})):
            items = list(parse_misp(body))
            entries = [item for item in items if isinstance(item, Entry)]
            assert [(item.value, item.extra.get("port")) for item in entries][:2] == [("198.51.100.9", 8443),
                                                                                        ("c2.evil.example", None)]
            assert entries[1].extra["comment"] == "<script>x</script>"
            reasons = [item.reason for item in items if isinstance(item, Rejected)]
            assert "is deleted" in reasons[0] and "MISP type 'link'" in reasons[1]
        objected = [item for item in parse_misp(feed_event) if isinstance(item, Entry)][-1]
        assert (objected.value, objected.extra["misp_object"], objected.line) == ("obj.example", "domain-ip", 5)

    def test_not_misp_is_a_parse_error(self) -> None:
        with pytest.raises(ParseError, match="not valid JSON"):
            list(parse_misp(b"<html>"))
        with pytest.raises(ParseError, match="holds no event"):
            list(parse_misp(b'{"objects": []}'))

    def test_every_real_event_reads(self) -> None:
        """Every MISP file in the real data parses; its attributes are all accounted for (entry or reject)."""
        for path in sorted(shared_path("realdata", "intel", "misp").rglob("*.json")):
            items = list(parse_feed(path.read_bytes(), "misp", None))
            assert items and {item.line for item in items} == set(range(1, max(i.line for i in items) + 1)), path


def test_a_taxii_answer_with_more_objects_to_come_fails_rather_than_load_part() -> None:
    """`"more": true` means the collection continues: refusing keeps the table in use instead of a partial one."""
    envelope = orjson.dumps({"more": True, "next": "2", "objects": [indicator("[domain-name:value = 'a.example']")]})
    with pytest.raises(ParseError, match="paging through a collection is not supported"):
        list(parse_stix(envelope))


def test_a_check_counts_in_the_formats_own_unit() -> None:
    """`providers test` of a MISP feed speaks of attributes, of a STIX feed of objects, of other feeds of lines."""
    from threatmatch.providers.feed.source import FeedCheck

    assert FeedCheck("u", 10, {"ip": 2}, 1, "attribute").message == \
        "Downloaded 10 bytes from u: 2 ip; 1 attribute is not an indicator (skipped and counted)."
    assert FeedCheck("u", 10, {}, 3, "object").message.endswith("no indicators; 3 objects are not indicators "
                                                                "(skipped and counted).")
