"""The fields a ThreatStream query may name, their types, and how values of each type compare.

Shared by the ``q=`` parser (to validate literals), the client (to validate users' queries) and the
emulator (to evaluate both ``q`` and Django-style filters with one set of semantics).

Normalised values: numbers are int/float, timestamps are epoch milliseconds (int), booleans are bool,
text is str; multi-valued fields (``tags.name``...) are lists of those. Text comparisons ignore case,
except ``regex``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from threatmatch.timefmt import parse_iso

FieldKind = Literal["text", "number", "time", "bool"]
Accessor = Callable[[Any], Any]

_NUMBER = (
    "id update_id confidence source_reported_confidence retina_confidence threatscore feed_id "
    "owner_organization_id import_session_id latitude longitude trusted_circle_ids"
)
_TIME = "created_ts modified_ts expiration_ts source_created source_modified meta.registration_created " \
        "meta.registration_updated"
_BOOL = "is_public is_anonymous is_editable can_add_public_tags"
_TEXT = (
    "value type itype threat_type subtype status source feed_name uuid tlp ip rdns asn org country created_by "
    "description resource_uri import_source meta.severity meta.detail meta.detail2 meta.maltype "
    "meta.registrant_name meta.registrant_email meta.registrant_phone meta.registrant_address "
    "meta.registrant_org tags tags.name tags.id tags.tlp"
)

FIELD_KINDS: dict[str, FieldKind] = {
    **{name: "number" for name in _NUMBER.split()},
    **{name: "time" for name in _TIME.split()},
    **{name: "bool" for name in _BOOL.split()},
    **{name: "text" for name in _TEXT.split()},
}
KNOWN_FIELDS: frozenset[str] = frozenset(FIELD_KINDS)
MULTI_VALUED: frozenset[str] = frozenset({"tags", "tags.name", "tags.id", "tags.tlp", "trusted_circle_ids"})
# Query-only names that stand for an object field.
ALIASES: dict[str, str] = {"feed_name": "source"}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def suggest_field(name: str) -> str | None:
    """The known field closest to a misspelt ``name``, if any is close."""
    found = difflib.get_close_matches(name.lower(), sorted(KNOWN_FIELDS), n=1, cutoff=0.6)
    return found[0] if found else None


def to_epoch_ms(moment: datetime) -> int:
    """Exact epoch milliseconds of an aware datetime (no float rounding)."""
    return (moment - _EPOCH) // _MS


@lru_cache(maxsize=65536)
def iso_ms(text: str) -> int | None:
    """Epoch milliseconds of an ISO-8601 timestamp or bare date; None when unparsable."""
    parsed = parse_iso(text)
    return None if parsed is None else to_epoch_ms(parsed)


def convert_literal(kind: FieldKind, text: str) -> Any:
    """A query literal as the operand for a field of ``kind``; ValueError says what to write instead."""
    if kind == "number":
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"expected a number, found {text!r}") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"expected a finite number, found {text!r}")
        return number
    if kind == "time":
        ms = iso_ms(text)
        if ms is None:
            raise ValueError(f"{text!r} is not a timestamp; write 2024-01-31 or 2024-01-31T12:00:00Z")
        return ms
    if kind == "bool":
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise ValueError(f"expected true or false, found {text!r}")
        return lowered == "true"
    return text


def value_test(op: str, operand: Any, kind: FieldKind) -> Callable[[Any], bool]:
    """Test of one normalised scalar value against ``operand`` (``!=`` is handled by the caller)."""
    if operand is None:
        return lambda v: v is None
    if kind == "text":
        return _text_test(op, str(operand))
    if op == "=":
        return lambda v: v is not None and v == operand
    if op == ">":
        return lambda v: v is not None and v > operand
    if op == ">=":
        return lambda v: v is not None and v >= operand
    if op == "<":
        return lambda v: v is not None and v < operand
    if op == "<=":
        return lambda v: v is not None and v <= operand
    raise ValueError(f"operator {op!r} does not apply to a {kind} field")


def _text_test(op: str, operand: str) -> Callable[[Any], bool]:
    if op == "regex":
        pattern = re.compile(operand)
        return lambda v: isinstance(v, str) and pattern.search(v) is not None
    low = operand.lower()
    tests: dict[str, Callable[[Any], bool]] = {
        "=": lambda v: isinstance(v, str) and v.lower() == low,
        "contains": lambda v: isinstance(v, str) and low in v.lower(),
        "startswith": lambda v: isinstance(v, str) and v.lower().startswith(low),
        ">": lambda v: isinstance(v, str) and v.lower() > low,
        ">=": lambda v: isinstance(v, str) and v.lower() >= low,
        "<": lambda v: isinstance(v, str) and v.lower() < low,
        "<=": lambda v: isinstance(v, str) and v.lower() <= low,
    }
    if op not in tests:
        raise ValueError(f"operator {op!r} does not apply to a text field")
    return tests[op]


def normalise(kind: FieldKind, raw: Any) -> Any:
    """A raw JSON value of a ``kind`` field in its normalised comparable form (None when absent)."""
    if raw is None:
        return None
    if kind == "text":
        if isinstance(raw, bool):
            return "true" if raw else "false"
        return raw if isinstance(raw, str) else str(raw)
    if kind == "number":
        if isinstance(raw, bool):
            return None
        if isinstance(raw, int | float):
            return raw
        try:
            return convert_literal("number", str(raw))
        except ValueError:
            return None
    if kind == "time":
        if isinstance(raw, str):
            return iso_ms(raw)
        return raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    if isinstance(raw, bool):
        return raw
    return str(raw).lower() == "true" if isinstance(raw, str) else None


def dict_accessor(name: str) -> Accessor:
    """Read field ``name`` (dotted paths, ``tags.*`` lists, ``feed_name``) from an indicator dict, normalised."""
    kind = FIELD_KINDS[name]
    path = ALIASES.get(name, name)
    if path == "tags" or path.startswith("tags."):
        key = "name" if path == "tags" else path.split(".", 1)[1]
        return lambda obj: [normalise(kind, t.get(key)) for t in (obj.get("tags") or ()) if isinstance(t, dict)]
    if name in MULTI_VALUED:
        return lambda obj: [normalise(kind, v) for v in (obj.get(path) or ())]
    if "." in path:
        parent, child = path.split(".", 1)

        def nested(obj: dict[str, Any]) -> Any:
            inner = obj.get(parent)
            return normalise(kind, inner.get(child)) if isinstance(inner, dict) else None

        return nested
    return lambda obj: normalise(kind, obj.get(path))
