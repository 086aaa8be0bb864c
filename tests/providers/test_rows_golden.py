"""Panther's published example row, reproduced from the raw ThreatStream object behind it."""

from __future__ import annotations

import re
from typing import Any

import orjson
from tests.conftest import shared_path

from threatmatch.providers.threatstream.panther_view import go_timestamp, panther_rendering
from threatmatch.providers.threatstream.rows import build_row, encode_raw

# The raw API object behind Panther's example, reconstructed with ThreatStream's real representations
# (docs/threatstream.md, "Rows and Panther's example"):
# - ids (`id`, `feed_id`, `owner_organization_id`, `update_id`) are JSON ints, as the API returns them;
# - timestamps are ISO-8601 with milliseconds and `Z`; Panther's "2023-11-09 13:35:49" is Go's layout
#   dropping a zero fraction, so the API text was "2023-11-09T13:35:49.000Z";
# - `tags[].org_id` is a string in the API too (XSOAR captures: "org_id": "88");
# - `sort` is kept as shown (the API object is passed through untouched either way).
RAW_EXAMPLE: dict[str, Any] = {
    "asn": "306",
    "can_add_public_tags": True,
    "confidence": 50,
    "country": "US",
    "created_ts": "2023-08-11T10:35:52.302Z",
    "expiration_ts": "2023-11-09T13:35:49.000Z",
    "feed_id": 336,
    "id": 457335623,
    "ip": "55.44.33.22",
    "is_anonymous": False,
    "is_editable": True,
    "is_public": False,
    "itype": "mal_ip",
    "latitude": 37.751,
    "longitude": -97.822,
    "meta": {"detail2": "imported by user 450", "severity": "medium"},
    "modified_ts": "2023-08-11T10:35:52.302Z",
    "org": "US Department of Defense Network",
    "owner_organization_id": 151,
    "resource_uri": "/api/v2/intelligence/457335623/",
    "retina_confidence": -1,
    "sort": [1691750152302, 457335623],
    "source": "Panther Dev Feed",
    "source_reported_confidence": 50,
    "status": "active",
    "tags": [{"id": "d4j", "name": "sdk_demo", "org_id": "151", "tlp": "white"}],
    "threat_type": "malware",
    "threatscore": 40,
    "type": "ip",
    "update_id": 1155874106,
    "uuid": "0d126865-0b34-4d60-b51b-24083ba53313",
    "value": "55.44.33.22",
}
PARSE_TIME = "2023-09-29 17:24:09.176"
ROW_ID = "0123456789abcdef0123456789abcdef"


def panther_example() -> dict[str, Any]:
    """The example row from Panther's Anomali ThreatStream page (the shared spec copy)."""
    text = shared_path("spec", "panther-anomali-threatstream.md").read_text(encoding="utf-8")
    block = re.search(r"```json\n(.*?)```", text, re.S)
    assert block is not None, "the example row block is missing from the Panther page copy"
    parsed: dict[str, Any] = orjson.loads(block.group(1))
    return parsed


class TestPantherExample:
    def test_rendered_row_equals_panther_example(self) -> None:
        """Field for field, the rendered row equals Panther's example (except p_parse_time and p_row_id)."""
        expected = panther_example()
        row = panther_rendering(build_row(RAW_EXAMPLE, parse_time=PARSE_TIME, row_id=ROW_ID))
        ignored = {"p_parse_time", "p_row_id"}
        assert sorted(set(row) - ignored) == sorted(set(expected) - ignored)
        for field in sorted(set(expected) - ignored):
            assert row[field] == expected[field], field

    def test_stored_row_keeps_api_representation(self) -> None:
        """The stored row keeps ids as ints and timestamps as the API's ISO text; only p_ fields are Panther text."""
        row = build_row(RAW_EXAMPLE, parse_time=PARSE_TIME, row_id=ROW_ID)
        assert row["id"] == 457335623 and isinstance(row["id"], int)
        assert row["update_id"] == 1155874106
        assert row["modified_ts"] == "2023-08-11T10:35:52.302Z"
        assert row["p_event_time"] == "2023-08-11 10:35:52.302"
        assert row["match"] == ["55.44.33.22"]
        assert row["p_any_ip_addresses"] == ["55.44.33.22"]
        assert (row["p_log_type"], row["p_schema_version"]) == ("Anomali.Indicator", 0)

    def test_fast_path_builds_the_same_row(self) -> None:
        """encode_raw on the object's bytes yields the same row as build_row on the decoded dict."""
        raw = orjson.dumps(RAW_EXAMPLE)
        stored = encode_raw(raw, parse_time=PARSE_TIME, row_id=ROW_ID)
        assert orjson.loads(stored.row) == build_row(RAW_EXAMPLE, parse_time=PARSE_TIME, row_id=ROW_ID)
        assert (stored.id, stored.status, stored.confidence, stored.match) == (457335623, "active", 50, ["55.44.33.22"])

    def test_real_sort_shape_passes_through(self) -> None:
        """A real-capture `sort` ([epoch ms, "id"]) is kept exactly as returned."""
        raw = dict(RAW_EXAMPLE, sort=[1691750152302, "457335623"])
        assert build_row(raw, parse_time=PARSE_TIME, row_id=ROW_ID)["sort"] == [1691750152302, "457335623"]


class TestGoTimestamp:
    def test_zero_fraction_is_dropped(self) -> None:
        """A whole-second timestamp shows no fraction, as in Panther's expiration_ts."""
        assert go_timestamp("2023-11-09T13:35:49.000Z") == "2023-11-09 13:35:49"

    def test_trailing_zeros_are_trimmed(self) -> None:
        """Fraction digits keep their value but lose trailing zeros."""
        assert go_timestamp("2023-08-11T10:35:52.300Z") == "2023-08-11 10:35:52.3"

    def test_unparsable_text_is_unchanged(self) -> None:
        """Text that is not a timestamp is returned unchanged rather than guessed."""
        assert go_timestamp("soon") == "soon"
