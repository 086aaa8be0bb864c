"""How enriched events, alerts and lookup rows map to Arrow tables (pure: no disk, no clock).

Every events file starts with the same fixed columns, so every view has them even when a batch lacks them:

========================  ====================  ==================================================
column                    DuckDB type           content
========================  ====================  ==================================================
p_log_type, p_row_id      VARCHAR
p_event_time              TIMESTAMP (UTC)       parsed from Panther text; NULL when unparsable
p_parse_time              TIMESTAMP (UTC)
p_schema_version          BIGINT
p_source_id/_label        VARCHAR
p_any_*                   VARCHAR[]             the 15 standard indicator fields (+ any other p_any_*)
p_enrichment              JSON                  provider -> selector -> row | [rows], kept verbatim
p_enrichment_matches      STRUCT(provider, selector, match, row JSON)[]
                                                p_enrichment flattened: one entry per matched row
event                     JSON                  the whole event except p_enrichment
========================  ====================  ==================================================

then one column per top-level field of the log type (first-seen order): a field whose values in the batch are
all booleans, all integers, all numbers or all strings gets that type; a field holding objects or arrays is JSON
text (VARCHAR; query it with ``->`` / ``->>``); a field mixing scalar types is text. Nested fields are text, not
JSON-typed, so files written with different shapes of the same field still combine (``union_by_name``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from threatmatch.lake.naming import HourKey

STANDARD_P_ANY = (
    "p_any_actor_ids", "p_any_aws_account_ids", "p_any_aws_arns", "p_any_aws_instance_ids", "p_any_aws_tags",
    "p_any_domain_names", "p_any_emails", "p_any_ip_addresses", "p_any_mac_addresses", "p_any_md5_hashes",
    "p_any_serial_numbers", "p_any_sha1_hashes", "p_any_sha256_hashes", "p_any_trace_ids", "p_any_usernames",
)
MAX_FIELD_COLUMNS = 400  # beyond this many top-level fields, the rest live only in `event`

JSON = pa.json_(pa.string())
TIMESTAMP = pa.timestamp("us")
STRINGS = pa.list_(pa.string())
MATCH = pa.struct([("provider", pa.string()), ("selector", pa.string()), ("match", pa.string()), ("row", JSON)])
MATCHES = pa.list_(MATCH)
_MATCHES_TEXT = pa.list_(pa.struct([(f.name, pa.string()) for f in MATCH]))

EVENT_FIXED: tuple[tuple[str, str], ...] = (
    ("p_log_type", "str"), ("p_row_id", "str"), ("p_event_time", "ts"), ("p_parse_time", "ts"),
    ("p_schema_version", "int"), ("p_source_id", "str"), ("p_source_label", "str"),
    *((name, "strlist") for name in STANDARD_P_ANY),
    ("p_enrichment", "json"),
)
EVENT_DERIVED = ("p_enrichment_matches", "event")
# Names that never become field columns: hive partition keys and our derived columns.
RESERVED = frozenset({"dt", "hour", "log_type", *EVENT_DERIVED})

ALERT_FIXED: tuple[tuple[str, str], ...] = (
    ("alert_id", "str"), ("alert_type", "str"), ("rule_id", "str"), ("title", "str"), ("severity", "str"),
    ("dedup", "str"), ("error", "str"),
    ("created_at", "ts"), ("updated_at", "ts"), ("first_event_time", "ts"), ("last_event_time", "ts"),
    ("event_count", "int"), ("log_types", "strlist"), ("alert_context", "json"), ("sample_events", "json"),
)
REJECT_FIXED: tuple[tuple[str, str], ...] = (
    ("log_type", "str"), ("received_at", "ts"), ("line", "int"), ("reason", "str"), ("raw", "str"),
)
EVENT_TIME_COLUMNS = ("p_event_time", "p_parse_time")
ALERT_TIME_COLUMNS = ("updated_at", "created_at", "last_event_time", "first_event_time")
REJECT_TIME_COLUMNS = ("received_at",)
LOOKUP_FIXED: tuple[tuple[str, str], ...] = (("match", "strlist"),)

_INT64 = (-(2**63), 2**63 - 1)
_NONE = type(None)
_orjson_dumps = orjson.dumps


class JsonText(bytes):
    """A value already encoded as JSON (an alert's sample events, encoded once while they stay the same):
    a JSON column stores it as it is."""

    __slots__ = ()


def dumps(value: Any) -> bytes:
    """orjson, tolerating non-string keys and exotic values (rendered with ``str``); ``JsonText`` as it is."""
    if value.__class__ is JsonText:
        return bytes(value)
    try:
        return orjson.dumps(value)
    except TypeError:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)


def parse_time(value: Any) -> datetime | None:
    """Panther/ISO timestamp text (or a datetime) as a naive UTC datetime; None when absent or unparsable."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _kinds(values: list[Any]) -> set[type]:
    kinds = set(map(type, values))
    kinds.discard(_NONE)
    return kinds


def _str_col(values: list[Any]) -> pa.Array:
    if _kinds(values) <= {str}:
        return pa.array(values, type=pa.string())
    return pa.array([None if v is None else v if isinstance(v, str) else dumps(v).decode() for v in values],
                    type=pa.string())


def _int_col(values: list[Any]) -> pa.Array:
    if _kinds(values) <= {int}:
        try:
            return pa.array(values, type=pa.int64())
        except OverflowError:
            pass
    out: list[int | None] = []
    for v in values:
        if isinstance(v, bool) or v is None:
            out.append(None if v is None else int(v))
        elif isinstance(v, int) and _INT64[0] <= v <= _INT64[1]:
            out.append(v)
        else:
            try:
                number = int(v)
            except (TypeError, ValueError, OverflowError):
                number = None
            out.append(number if number is not None and _INT64[0] <= number <= _INT64[1] else None)
    return pa.array(out, type=pa.int64())


def _ts_col(values: list[Any]) -> pa.Array:
    if _kinds(values) <= {str}:
        try:  # Arrow parses Panther's "YYYY-MM-DD HH:MM:SS.fff" natively; other forms take the slow path
            return pa.array(values, type=pa.string()).cast(TIMESTAMP)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return pa.array([parse_time(v) for v in values], type=TIMESTAMP)


def _json_texts(values: list[Any]) -> pa.Array:
    """A string column of each value's JSON text (``dumps``; null stays null)."""
    try:  # the usual case in one orjson call per value; anything it refuses takes ``dumps``
        texts = [None if v is None else _orjson_dumps(v) for v in values] if None in values else \
            list(map(_orjson_dumps, values))
    except TypeError:  # non-string keys, JsonText, exotic values
        texts = [None if v is None else dumps(v) for v in values]
    return pa.array(texts, type=pa.binary()).view(pa.string())  # orjson output is valid UTF-8: not checked again


def _json_col(values: list[Any]) -> pa.Array:
    return _json_texts(values).cast(JSON)


def _strlist_col(values: list[Any]) -> pa.Array:
    if _kinds(values) <= {list}:
        try:
            return pa.array(values, type=STRINGS)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    out: list[list[str] | None] = []
    for v in values:
        if v is None:
            out.append(None)
        elif isinstance(v, list | tuple):
            out.append([x if isinstance(x, str) else dumps(x).decode() for x in v if x is not None])
        else:
            out.append([v if isinstance(v, str) else dumps(v).decode()])
    return pa.array(out, type=STRINGS)


_FIXED_BUILDERS: dict[str, Callable[[list[Any]], pa.Array]] = {
    "str": _str_col, "int": _int_col, "ts": _ts_col, "json": _json_col, "strlist": _strlist_col,
}
_FIXED_TYPES: dict[str, pa.DataType] = {"str": pa.string(), "int": pa.int64(), "ts": TIMESTAMP, "json": JSON,
                                        "strlist": STRINGS}


def infer_column(values: list[Any]) -> pa.Array | None:
    """Arrow column for one top-level field (typing rule in the module docstring); None when all values are null.

    The usual columns take a shortcut chosen by the first value: text (Arrow refuses any other JSON kind in a
    string column, so the rule still holds) and objects/arrays (every value becomes JSON text, whatever the
    others are). Anything unusual goes the general way."""
    first = values[0] if values else None
    if first.__class__ is str:
        try:
            return pa.array(values, type=pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    elif first.__class__ is dict or first.__class__ is list:
        return _json_texts(values)
    kinds = _kinds(values)
    if not kinds:
        return None
    if kinds == {str}:
        return pa.array(values, type=pa.string())
    if kinds == {bool}:
        return pa.array(values, type=pa.bool_())
    if kinds == {int}:
        try:
            return pa.array(values, type=pa.int64())
        except OverflowError:  # beyond 64 bits: stored as double below
            pass
    if kinds <= {int, float}:
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    if kinds & {dict, list, tuple}:
        return _json_texts(values)
    return _str_col(values)


def field_names(keys: Iterable[Any], taken: Iterable[str], reserved: frozenset[str]) -> list[str]:
    """Top-level keys (``keys``: the records' keys in first-seen order) that become columns, skipping
    fixed/reserved names and case-insensitive duplicates (DuckDB column names ignore case), capped at
    MAX_FIELD_COLUMNS."""
    seen_lower = {name.lower() for name in taken} | {name.lower() for name in reserved}
    chosen: list[str] = []
    for key in keys:
        if not isinstance(key, str) or not key or key.lower() in seen_lower:
            continue
        seen_lower.add(key.lower())
        chosen.append(key)
        if len(chosen) >= MAX_FIELD_COLUMNS:
            break
    return chosen


def pivot(records: Sequence[Mapping[str, Any]], names: Iterable[str],
          counts: Mapping[str, int] | None = None) -> dict[str, list[Any]]:
    """Column lists for ``names`` (None where a record lacks the key).

    ``counts`` (how many records hold each key, e.g. a ``Counter`` of their keys) lets the keys every record holds
    be read a record at a time (one C call per record for all of them) instead of a column at a time."""
    size = len(records)
    columns: dict[str, list[Any]] = {}
    if set(map(type, records)) <= {dict}:  # plain dicts (the usual case): C-level lookups only
        get: Callable[[Any, str], Any] = dict.get
        wanted = list(names)
        everywhere = [name for name in wanted if counts.get(name) == size] if counts is not None else []
        if len(everywhere) > 1:
            rows = map(itemgetter(*everywhere), records)
            columns.update(zip(everywhere, map(list, zip(*rows, strict=True)), strict=True))
        for name in wanted:
            if name not in columns:
                columns[name] = list(map(get, records, repeat(name)))
        return columns
    columns = {name: [None] * size for name in names}
    for index, record in enumerate(records):
        for name, column in columns.items():
            column[index] = record.get(name)
    return columns


def _build(records: Sequence[Mapping[str, Any]], fixed: tuple[tuple[str, str], ...],
           reserved: frozenset[str]) -> tuple[list[str], list[pa.Array], dict[str, list[Any]]]:
    """Names and arrays of the fixed then the field columns, and the column lists of the keys present."""
    keys = Counter(chain.from_iterable(records))  # first-seen order, and how many records hold each key
    fields = field_names(keys, [name for name, _ in fixed], reserved)
    # most fixed columns are absent from a whole batch (p_any_* a log type never fills): not even pivoted
    columns = pivot(records, [*(name for name, _ in fixed if name in keys), *fields], keys)
    names: list[str] = []
    arrays: list[pa.Array] = []
    size = len(records)
    for name, kind in fixed:
        names.append(name)
        values = columns.get(name)
        arrays.append(pa.nulls(size, _FIXED_TYPES[kind]) if values is None or values.count(None) == size else
                      _FIXED_BUILDERS[kind](values))
    for name in fields:
        values = columns[name]
        column = _strlist_col(values) if name.startswith("p_any_") else infer_column(values)
        if column is not None:
            names.append(name)
            arrays.append(column)
    return names, arrays, columns


def flatten_enrichment(enrichment: Any) -> list[dict[str, str | None]] | None:
    """``p_enrichment`` as one entry per matched row: provider, selector, the row's ``p_match`` and the row JSON."""
    if not isinstance(enrichment, dict) or not enrichment:
        return None
    out: list[dict[str, str | None]] = []
    for provider, selectors in enrichment.items():
        if not isinstance(selectors, dict):
            continue
        for selector, found in selectors.items():
            for row in found if isinstance(found, list) else [found]:
                match = row.get("p_match") if isinstance(row, dict) else None
                out.append({"provider": str(provider), "selector": str(selector),
                            "match": None if match is None else str(match), "row": dumps(row).decode()})
    return out


def _event_json(event: Mapping[str, Any]) -> bytes:
    if "p_enrichment" not in event:
        return dumps(event if event.__class__ is dict else dict(event))  # orjson encodes dicts, not mappings
    return dumps({k: v for k, v in event.items() if k != "p_enrichment"})


def events_table(log_type: str, events: Sequence[Mapping[str, Any]],
                 texts: Sequence[bytes | None] | None = None) -> pa.Table:
    """The Arrow table of one batch of enriched events of ``log_type`` (columns in the module docstring).

    ``texts``: per event, its JSON text without ``p_enrichment`` when the caller has it already
    (``Pipeline.stream_texts``), used as the ``event`` column instead of encoding the event again; None where not.
    """
    names, arrays, columns = _build(events, EVENT_FIXED, RESERVED)
    if arrays[0].null_count:  # p_log_type missing on some events: it is the batch's log type
        arrays[0] = pa.array([v or log_type for v in columns.get("p_log_type", ())] or [log_type] * len(events),
                             type=pa.string())
    enrichments = columns.get("p_enrichment")
    matches = (pa.nulls(len(events), _MATCHES_TEXT) if enrichments is None else
               pa.array([None if e is None else flatten_enrichment(e) for e in enrichments], type=_MATCHES_TEXT))
    insert_at = len(EVENT_FIXED)
    names[insert_at:insert_at] = list(EVENT_DERIVED)
    if texts is None:
        documents = [_event_json(e) for e in events]
    else:
        documents = [_event_json(e) if t is None else t for e, t in zip(events, texts, strict=True)]
    # every document is orjson output or a line orjson decoded (both valid UTF-8): no second validation
    arrays[insert_at:insert_at] = [matches.cast(MATCHES),
                                   pa.array(documents, type=pa.binary()).view(pa.string()).cast(JSON)]
    return pa.Table.from_arrays(arrays, names=names)


def alerts_table(alerts: Sequence[Mapping[str, Any]]) -> pa.Table:
    """The Arrow table of a batch of alerts: typed known keys, JSON context and samples, other keys inferred."""
    names, arrays, _ = _build(alerts, ALERT_FIXED, frozenset({"dt", "hour"}))
    return pa.Table.from_arrays(arrays, names=names)


def rejects_table(rejects: Sequence[Mapping[str, Any]]) -> pa.Table:
    """The Arrow table of rejected lines: their log type, when they were received, line number (1-based, in the
    request they came in), reason and raw text (other keys inferred)."""
    names, arrays, _ = _build(rejects, REJECT_FIXED, frozenset({"dt", "hour"}))
    return pa.Table.from_arrays(arrays, names=names)


def lookup_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """The Arrow table of lookup-table rows: ``match`` (VARCHAR[]) then every top-level field, inferred."""
    names, arrays, _ = _build(rows, LOOKUP_FIXED, frozenset())
    return pa.Table.from_arrays(arrays, names=names)


def split_by_hour(table: pa.Table, time_columns: Sequence[str], now: datetime) -> dict[HourKey, pa.Table]:
    """Rows of ``table`` grouped by UTC hour of the first non-null of ``time_columns`` (``now`` when all are null)."""
    hours: pa.Array | None = None
    for name in time_columns:
        micros = pc.cast(table[name], pa.int64()).cast(pa.float64())
        hour = pc.cast(pc.floor(pc.divide(micros, _MICROS_PER_HOUR)), pa.int64())
        hours = hour if hours is None else pc.coalesce(hours, hour)
    fallback = _hour_number(now)
    if hours is None:
        return {HourKey.of(now): table}
    hours = hours.fill_null(fallback)
    groups: dict[HourKey, pa.Table] = {}
    for number in pc.unique(hours).to_pylist():
        key = HourKey.of(_EPOCH + timedelta(hours=number))
        groups[key] = table if len(groups) == 0 and pc.all(pc.equal(hours, number)).as_py() else (
            table.filter(pc.equal(hours, number)))
    return groups


_MICROS_PER_HOUR = 3_600_000_000.0
_EPOCH = datetime(1970, 1, 1)


def _hour_number(moment: datetime) -> int:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (moment - _EPOCH) // timedelta(hours=1)
