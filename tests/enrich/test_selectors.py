"""Selectors: parsing, p_enrichment keys, compiled getters, validation against a log type."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from threatmatch.enrich.selectors import parse_selector, parse_selectors, validate_selector
from threatmatch.errors import SelectorError

EVENT = {
    "sourceIPAddress": "1.2.3.4",
    "client": {"ipAddress": "5.6.7.8", "geo": {"city": "x"}},
    "request": {"ipChain": [{"ip": "9.9.9.9"}, {"ip": "8.8.8.8"}, {"other": 1}]},
    "sourceIPs": ["1.1.1.1", "2.2.2.2"],
    "odd.key": {"x": "y"},
    "p_any_ip_addresses": ["1.2.3.4", "5.6.7.8"],
}


@dataclass
class FakeType:
    name: str = "Okta.SystemLog"
    indicator_fields: tuple[str, ...] = ("p_any_emails", "p_any_ip_addresses")
    field_paths: tuple[str, ...] = ("$.client.ipAddress", "$.actor.id", "$.request.ipChain[*].ip", "$.debugContext")


@pytest.mark.parametrize(("text", "key", "value"), [
    ("p_any_ip_addresses", "p_any_ip_addresses", ["1.2.3.4", "5.6.7.8"]),
    ("$.client.ipAddress", "client.ipAddress", "5.6.7.8"),
    ("client.ipAddress", "client.ipAddress", "5.6.7.8"),
    ("sourceIPAddress", "sourceIPAddress", "1.2.3.4"),
    ("$.sourceIPs", "sourceIPs", ["1.1.1.1", "2.2.2.2"]),
    ("$.request.ipChain[1].ip", "request.ipChain[1].ip", "8.8.8.8"),
    ("$.request.ipChain[*].ip", "request.ipChain[*].ip", ["9.9.9.9", "8.8.8.8"]),
    ("$['odd.key'].x", "['odd.key'].x", "y"),
    ("$.client.missing", "client.missing", None),
    ("$.sourceIPAddress.deeper", "sourceIPAddress.deeper", None),
    ("$.request.ipChain.ip", "request.ipChain.ip", None),
])
def test_selector_key_and_value(text: str, key: str, value: object) -> None:
    """Each spelling reports under Panther's key (no leading $.) and selects the expected value."""
    selector = parse_selector(text)
    assert selector.key == key
    assert selector.getter()(EVENT) == value


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty selector"),
    ("p_any_ip_address", "Did you mean p_any_ip_addresses"),
    ("$", "whole event"),
    ("$.a..b", "empty field name"),
    ("$.a[x]", "bad bracket"),
    ("client ip", "not a field name"),
    (" sourceIP", "spaces"),
])
def test_bad_selectors_are_refused_with_a_reason(text: str, message: str) -> None:
    """Malformed selectors raise SelectorError saying what is wrong."""
    with pytest.raises(SelectorError, match=message):
        parse_selector(text)


def test_validation_against_log_type_fields() -> None:
    """Paths must exist in the log type (did-you-mean otherwise); p_any fields must be produced by it."""
    log_type = FakeType()
    validate_selector(parse_selector("$.client.ipAddress"), log_type)
    validate_selector(parse_selector("$.request.ipChain[0].ip"), log_type)
    validate_selector(parse_selector("$.debugContext.debugData.url"), log_type)  # below a JSON blob field
    validate_selector(parse_selector("p_any_emails"), log_type)
    with pytest.raises(SelectorError, match=r"Did you mean \$\.client\.ipAddress"):
        validate_selector(parse_selector("$.client.ipAdress"), log_type)
    with pytest.raises(SelectorError, match="never produces p_any_md5_hashes"):
        validate_selector(parse_selector("p_any_md5_hashes"), log_type)


def test_parse_selectors_refuses_duplicates_and_empty_lists() -> None:
    """The same key twice, or no selector at all, is refused."""
    with pytest.raises(SelectorError, match="repeats"):
        parse_selectors(["$.actor.id", "actor.id"])
    with pytest.raises(SelectorError, match="at least one"):
        parse_selectors([])


def test_validation_against_real_schemas() -> None:
    """Real log types accept their own paths (quoted Zeek keys, [*] steps) and refuse typos below objects."""
    from threatmatch.logtypes import LogTypeRegistry

    registry = LogTypeRegistry.load()
    zeek = registry.get("Zeek.Conn")
    validate_selector(parse_selector("$['id.orig_h']"), zeek)
    trail = registry.get("AWS.CloudTrail")
    validate_selector(parse_selector("$.userIdentity.arn"), trail)
    validate_selector(parse_selector("sourceIPAddress"), trail)
    with pytest.raises(SelectorError, match="Did you mean"):
        validate_selector(parse_selector("$.userIdentity.arnn"), trail)
    for log_type in registry:
        for path in log_type.field_paths:
            validate_selector(parse_selector(path), log_type)
