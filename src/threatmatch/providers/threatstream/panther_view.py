"""How Panther's console renders a stored ``Anomali.Indicator`` row (pure).

Our rows keep every API field exactly as ThreatStream returns it. Panther's published example row
shows the same data after two representational changes made by its (Go) storage layer:

* 64-bit integer ids are shown as strings: ``"id": "457335623"``, ``"feed_id": "336"``,
  ``"owner_organization_id": "151"``, ``"update_id": "1155874106"`` (the API returns ints);
* API timestamps are shown in Go's ``2006-01-02 15:04:05.999999999`` layout, i.e. UTC, a space instead
  of ``T``, no ``Z`` and trailing zero fraction digits dropped:
  ``2023-11-09T13:35:49.000Z`` -> ``2023-11-09 13:35:49``, ``...52.302Z`` -> ``...52.302``.

``panther_rendering`` applies exactly these changes, so a row can be compared field for field with
Panther's example or exported in Panther's shape. Nothing else differs.
"""

from __future__ import annotations

from typing import Any

from threatmatch.timefmt import parse_iso

INT64_ID_FIELDS = ("id", "feed_id", "owner_organization_id", "update_id", "import_session_id")
TIMESTAMP_FIELDS = ("created_ts", "modified_ts", "expiration_ts", "source_created", "source_modified")


def go_timestamp(iso: str) -> str:
    """ISO-8601 text as Go's ``2006-01-02 15:04:05.999999999`` layout in UTC; unparsable text unchanged."""
    parsed = parse_iso(iso)
    if parsed is None:
        return iso
    text = parsed.strftime("%Y-%m-%d %H:%M:%S")
    fraction = f"{parsed.microsecond:06d}".rstrip("0")
    return f"{text}.{fraction}" if fraction else text


def panther_rendering(row: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``row`` with ids as strings and API timestamps in Panther's text form."""
    shown = dict(row)
    for field in INT64_ID_FIELDS:
        value = shown.get(field)
        if isinstance(value, int) and not isinstance(value, bool):
            shown[field] = str(value)
    for field in TIMESTAMP_FIELDS:
        value = shown.get(field)
        if isinstance(value, str):
            shown[field] = go_timestamp(value)
    return shown
