"""Query-string parameters of ``GET /api/v2/intelligence/`` -> a validated ``PageRequest``.

Django/tastypie style: ``field=value`` (comma = OR list), ``field__lookup=value`` with lookups
``exact in gt gte lt lte contains icontains startswith istartswith regex iregex isnull``, dotted fields
(``meta.severity``, ``tags.name``), ``type=hash`` (= ``md5``) and ``hash$subtype``. Filters on unknown
fields are ignored, as tastypie does; a bad value for a known field is a 400. ``q`` is parsed with the
ThreatStream grammar and ANDed with the filters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from threatmatch.emulator.columns import COLUMN_FIELDS, NUMERIC
from threatmatch.emulator.dataset import PageRequest
from threatmatch.errors import QuerySyntaxError
from threatmatch.providers.threatstream.query import Comparison, Expr, parse_query
from threatmatch.providers.threatstream.query_fields import FIELD_KINDS, convert_literal

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
# Parameters that are not filters; unknown ones (remote_api, local_only, format...) are ignored anyway.
CONTROL = frozenset({"limit", "offset", "order_by", "q", "username", "api_key", "search_after"})
_LOOKUPS = {
    "exact": "=", "in": "in", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "contains": "contains",
    "icontains": "contains", "startswith": "startswith", "istartswith": "startswith", "regex": "regex",
    "iregex": "regex", "isnull": "isnull",
}
_FIELD_ALIASES = {"hash$subtype": "subtype", "feed_name": "feed_name"}
ORDERABLE = COLUMN_FIELDS | {"feed_name"}


class BadParameter(ValueError):
    """A request parameter was refused (becomes HTTP 400 with this message)."""


@dataclass(frozen=True)
class Listing:
    """A parsed listing request plus what the ``next`` link needs."""

    request: PageRequest
    params: list[tuple[str, str]]  # the request's own parameters, credentials removed
    has_modified_lt: bool


def parse_listing(params: list[tuple[str, str]]) -> Listing:
    """Validate the parameters of one listing request (last value wins for a repeated name)."""
    last = dict(params)
    conditions: list[Expr] = []
    for key, value in last.items():
        if key in CONTROL:
            continue
        cond = filter_condition(key, value)
        if cond is not None:
            conditions.append(cond)
    q = last.get("q", "").strip()
    if q:
        try:
            conditions.append(parse_query(q))
        except QuerySyntaxError as exc:
            raise BadParameter(f"invalid q: {exc}") from None
    order_field, descending = _order(last.get("order_by", "-modified_ts"))
    request = PageRequest(
        conditions=tuple(conditions),
        order_field=order_field,
        descending=descending,
        limit=_limit(last.get("limit")),
        offset=_natural("offset", last.get("offset", "0")),
        search_after=_search_after(last.get("search_after"), order_field),
    )
    clean = [(k, v) for k, v in params if k not in ("username", "api_key")]
    return Listing(request, clean, "modified_ts__lt" in last or "modified_ts__lte" in last)


def filter_condition(key: str, raw: str) -> Expr | None:
    """One ``field[__lookup]=value`` parameter as a condition; None for an unknown field."""
    name, _, lookup = key.partition("__")
    if lookup and lookup not in _LOOKUPS:
        name = key  # e.g. a field with a double underscore we do not know: ignored below
        lookup = ""
    name = _FIELD_ALIASES.get(name, name)
    if name not in FIELD_KINDS:
        return None
    kind = FIELD_KINDS[name]
    op = _LOOKUPS.get(lookup or "exact", "=")
    if op == "isnull":
        if raw.lower() not in ("true", "false", "1", "0"):
            raise BadParameter(f"{key} takes true or false, not {raw!r}")
        return Comparison(name, "=" if raw.lower() in ("true", "1") else "!=", None)
    if op in ("contains", "startswith", "regex") and kind != "text":
        raise BadParameter(f"{key}: the __{lookup} lookup needs a text field, but {name!r} is a {kind}")
    if op == "regex":
        try:
            re.compile(raw)
        except re.error as exc:
            raise BadParameter(f"{key}: invalid regular expression: {exc}") from None
        return Comparison(name, "regex", raw)
    values = [v for v in raw.split(",")] if op in ("=", "in") else [raw]
    if name == "type":
        values = ["md5" if v.strip().lower() == "hash" else v for v in values]
    for value in values:
        try:
            convert_literal(kind, value)
        except ValueError as exc:
            raise BadParameter(f"invalid value for {key}: {exc}") from None
    if op in ("=", "in"):
        return Comparison(name, "=", values[0]) if len(values) == 1 else Comparison(name, "in", tuple(values))
    return Comparison(name, op, raw)


def _order(raw: str) -> tuple[str, bool]:
    descending = raw.startswith("-")
    field = raw.lstrip("-").strip()
    if field not in ORDERABLE:
        choices = ", ".join(sorted(ORDERABLE))
        raise BadParameter(f"cannot order by {field!r}; order_by takes one of: {choices} (prefix - for descending)")
    return ("source" if field == "feed_name" else field), descending


def _natural(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(f"{name} must be a whole number, not {raw!r}") from None
    if value < 0:
        raise BadParameter(f"{name} must not be negative (got {value})")
    return value


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    value = _natural("limit", raw)
    return MAX_LIMIT if value == 0 else min(value, MAX_LIMIT)


def _search_after(raw: str | None, order_field: str) -> tuple[int, ...] | None:
    if raw is None:
        return None
    if order_field not in NUMERIC:
        raise BadParameter(f"search_after needs a numeric or time order_by, not {order_field!r}")
    try:
        values = tuple(int(part) for part in raw.split(","))
    except ValueError:
        raise BadParameter(f"search_after takes the comma-joined sort values of the last object, not {raw!r}") \
            from None
    wanted = 1 if order_field == "update_id" else 2
    if len(values) != wanted:
        raise BadParameter(f"search_after for order_by={order_field} takes {wanted} value(s), got {len(values)}")
    return values
