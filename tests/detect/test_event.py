"""The detection event behaves like Panther's: read-only, case-insensitive, deep_get/deep_walk/udm/lookup."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threatmatch.detect.datamodel import JsonPath, datamodel_from_mappings
from threatmatch.detect.event import ImmutableDict, ImmutableList, PantherEvent

OKTA = {
    "eventType": "user.session.start",
    "client": {"ipAddress": "1.2.3.4", "userAgent": {"rawUserAgent": "curl"}},
    "target": [{"alternateId": "a@example.com"}, {"alternateId": "b@example.com"}, {"alternateId": "a@example.com"}],
    "p_log_type": "Okta.SystemLog",
    "p_event_time": "2024-04-02 19:17:37.621000000",
    "p_enrichment": {"ipinfo_privacy": {"client.ipAddress": {"service": "Apple Private Relay", "p_match": "1.2.3.4"}}},
}


class TestMapping:
    def test_keys_ignore_case(self) -> None:
        """Top-level and nested keys are found whatever their case."""
        event = PantherEvent(OKTA)
        assert event["EVENTTYPE"] == "user.session.start"
        assert event.get("Client").get("IPADDRESS") == "1.2.3.4"
        assert "eventtype" in event and "missing" not in event

    def test_standard_fields_are_matched_exactly(self) -> None:
        """A log key like ``P_Enrichment`` never answers for the engine's ``p_enrichment`` (no forged matches)."""
        event = PantherEvent({"P_Enrichment": {"intel": {"ip": {"p_match": "1.2.3.4"}}}, "p_log_type": "X"})
        assert event.get("p_enrichment") is None
        assert "p_enrichment" not in event
        assert event.deep_get("p_enrichment", "intel") is None
        assert event.get("P_ENRICHMENT") is not None  # a non-standard spelling still folds case
        assert event["p_log_type"] == "X"

    def test_read_only(self) -> None:
        """Nested mappings and lists are read-only views; the event cannot be changed through them."""
        event = PantherEvent(OKTA)
        with pytest.raises(TypeError):
            event["x"] = 1  # type: ignore[index]
        assert isinstance(event["client"], ImmutableDict)
        assert isinstance(event["target"], ImmutableList)
        assert event["target"] == [dict(t) for t in OKTA["target"]]  # type: ignore[union-attr]

    def test_to_dict_is_a_deep_copy(self) -> None:
        """to_dict returns a mutable copy; editing it leaves the event alone."""
        event = PantherEvent(OKTA)
        copy = event.to_dict()
        copy["client"]["ipAddress"] = "9.9.9.9"
        assert event.deep_get("client", "ipAddress") == "1.2.3.4"

    def test_get_default(self) -> None:
        """get returns the default (positional or keyword) for absent keys."""
        event = PantherEvent(OKTA)
        assert event.get("nope", {}) == {}
        assert event.get("nope", default="x") == "x"


class TestDeepGet:
    def test_follows_keys(self) -> None:
        """deep_get walks nested mappings, ignoring key case, and reads p_enrichment rows."""
        event = PantherEvent(OKTA)
        assert event.deep_get("p_enrichment", "ipinfo_privacy", "client.ipAddress", "service") == "Apple Private Relay"
        assert event.deep_get("Client", "UserAgent", "RawUserAgent") == "curl"

    def test_defaults(self) -> None:
        """A missing step, a non-mapping step or a final None all give the default."""
        event = PantherEvent({"a": {"b": None}, "s": "text"})
        assert event.deep_get("a", "b", default="d") == "d"
        assert event.deep_get("s", "x", default="d") == "d"
        assert event.deep_get("zzz", default=0) == 0


class TestDeepWalk:
    def test_descends_lists_and_dedupes(self) -> None:
        """deep_walk flattens list items and removes duplicates, keeping order."""
        event = PantherEvent(OKTA)
        assert event.deep_walk("target", "alternateId") == ["a@example.com", "b@example.com"]
        assert event.deep_walk("target", "alternateId", return_val="first") == "a@example.com"
        assert event.deep_walk("target", "alternateId", return_val="last") == "b@example.com"

    def test_single_value_is_bare(self) -> None:
        """One value found through a list comes back bare, not in a list."""
        event = PantherEvent({"items": [{"k": "v"}, {"other": 1}]})
        assert event.deep_walk("items", "k") == "v"

    def test_list_reached_directly_is_plain(self) -> None:
        """A list reached through mappings is returned as a plain (mutable) list of plain dicts, like Panther."""
        event = PantherEvent({"p": {"auth": [{"granted": True}]}})
        found = event.deep_walk("p", "auth", default=[])
        assert isinstance(found, list) and isinstance(found[0], dict)

    def test_missing_gives_default(self) -> None:
        """Nothing found gives the default."""
        assert PantherEvent(OKTA).deep_walk("target", "nothing", default="d") == "d"


class TestUdm:
    def _model(self) -> Any:
        return datamodel_from_mappings(
            "Standard.Okta", ["Okta.SystemLog"],
            [("source_ip", "$.client.ipAddress", None), ("event_type", None, lambda e: e.get("eventType")),
             ("absent", "$.nothing.here", None)],
        )

    def test_paths_methods_and_fallbacks(self) -> None:
        """udm resolves data-model paths and methods, then p_udm, then raw keys."""
        event = PantherEvent({**OKTA, "p_udm": {"user": "casey"}}, self._model())
        assert event.udm("source_ip") == "1.2.3.4"
        assert event.udm("event_type") == "user.session.start"
        assert event.udm("absent", default="d") == "d"
        assert event.udm("user") == "casey"
        assert event.udm("eventType") == "user.session.start"

    def test_udm_path_is_the_selector_key(self) -> None:
        """udm_path gives the JSON path without `$.`, which is the p_enrichment selector key."""
        event = PantherEvent(OKTA, self._model())
        path = event.udm_path("source_ip")
        assert path == "client.ipAddress"
        assert event.deep_get("p_enrichment", "ipinfo_privacy", path, "p_match") == "1.2.3.4"

    def test_filter_paths(self) -> None:
        """Equality filters in JSON paths select list items, as in Panther's GSuite model."""
        path = JsonPath.compile("$.events[*].parameters[?(@.name == 'ROLE_NAME')].value")
        data = {"events": [{"parameters": [{"name": "X", "value": 1}, {"name": "ROLE_NAME", "value": "admin"}]}]}
        assert [v for v, _ in path.find(data)] == ["admin"]


class TestLookupAndTime:
    def test_lookup_uses_injected_function(self) -> None:
        """lookup asks the injected function, else the test event's _mocked_lookup_data_."""
        live = PantherEvent({}, lookup=lambda table, key: {"table": table, "key": key})
        assert live.lookup("anomali", "1.2.3.4") == {"table": "anomali", "key": "1.2.3.4"}
        mocked = PantherEvent({"_mocked_lookup_data_": {"t": {"k": {"v": 1}}}})
        assert mocked.lookup("t", "k") == {"v": 1}
        assert mocked.lookup("t", "missing") is None

    def test_event_time_epoch(self) -> None:
        """p_event_time with nine fraction digits parses as UTC; junk gives 0."""
        assert PantherEvent(OKTA).event_time_epoch() == 1712085457
        assert PantherEvent({"p_event_time": "yesterday"}).event_time_epoch() == 0
        assert PantherEvent({}).event_time_epoch() == 0


json_keys = st.text(alphabet=st.characters(min_codepoint=65, max_codepoint=122), min_size=1, max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(json_keys, inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(json_keys, json_values, max_size=5))
def test_every_key_reads_back(data: dict[str, Any]) -> None:
    """For any JSON object, each key reads back its value (exactly, and upper-cased when unambiguous)."""
    event = PantherEvent(data)
    for key, value in data.items():
        assert event.to_dict()[key] == value
        assert (event[key] == value) if not isinstance(value, (dict, list)) else True
        if sum(1 for k in data if k.lower() == key.lower()) == 1 and value is not None:
            assert event.deep_get(key.upper()) is not None
