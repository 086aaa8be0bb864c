"""ThreatStream indicator -> lookup-table row (pure: no I/O, no clock).

A row is the API object exactly as returned (ids stay ints, timestamps stay ISO text, unknown
fields kept) plus the fields Panther adds to an ``Anomali.Indicator`` row:

* ``match``: one-element list, the indicator ``value`` in canonical form
  (``threatmatch.indicators.normalize.canonical``: IPs canonical, domains/e-mails/hashes lower-cased);
* ``p_any_*``: indicator fields chosen by ``type`` (hash kind from ``subtype``, else hex length);
  a domain/url row's resolved ``ip`` goes to ``p_any_ip_addresses``, a url's host to
  ``p_any_domain_names`` (or ``p_any_ip_addresses`` when the host is an address); empty lists omitted;
* ``p_event_time`` (= ``modified_ts``), ``p_parse_time``, ``p_log_type``, ``p_row_id``, ``p_schema_version``.

Entry points: ``build_row`` works on a decoded dict (the reference, any caller); ``encode_raw`` (one
object) and ``encode_objects`` (a page: its objects decoded in one call) work on the raw JSON bytes of
objects — the sync hot path. They decode only the few fields needed and append the derived ones, as JSON
text, to the original bytes, so every API field is kept byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from json.encoder import encode_basestring
from typing import Any

import msgspec

from threatmatch.errors import ParseError
from threatmatch.providers.threatstream.row_fields import (
    added_json,
    event_time,
    fast_canonical,
    fast_ip,
    indicator_fields,
    url_host,
)
from threatmatch.storage.lookup_store import LoadRow, StoredRow, load_row, stored_row

__all__ = ["LOG_TYPE", "SCHEMA_VERSION", "build_row", "decode_views", "encode_objects", "encode_raw", "event_time",
           "fast_canonical", "fast_ip", "indicator_fields", "page_objects", "url_host"]

LOG_TYPE = "Anomali.Indicator"
SCHEMA_VERSION = 0
_INT64 = (1 << 63) - 1
_ABSENT: Any = msgspec.UNSET


class _View(msgspec.Struct, gc=False):
    """The only fields of an indicator the hot path decodes, and the keys the row adds (absent: ``UNSET``)."""

    id: Any = None
    value: Any = None
    type: Any = None
    itype: Any = None
    status: Any = None
    confidence: Any = None
    ip: Any = None
    modified_ts: Any = None
    update_id: Any = None
    # An object already holding one of these keys takes the dict path (a spliced row would repeat the key).
    match: Any = _ABSENT
    p_any_ip_addresses: Any = _ABSENT
    p_any_domain_names: Any = _ABSENT
    p_any_md5_hashes: Any = _ABSENT
    p_any_sha1_hashes: Any = _ABSENT
    p_any_sha256_hashes: Any = _ABSENT
    p_any_emails: Any = _ABSENT
    p_event_time: Any = _ABSENT
    p_parse_time: Any = _ABSENT
    p_log_type: Any = _ABSENT
    p_row_id: Any = _ABSENT
    p_schema_version: Any = _ABSENT


class _Views(msgspec.Struct, gc=False):
    objects: list[_View]


class _Objects(msgspec.Struct, gc=False):
    objects: list[msgspec.Raw]


class _Times(msgspec.Struct, gc=False):
    modified_ts: Any = None
    expiration_ts: Any = None


_VIEW_DECODER = msgspec.json.Decoder(_View)
_TIMES_DECODER = msgspec.json.Decoder(_Times)
_PAGE_VIEWS = msgspec.json.Decoder(_Views)
_PAGE_OBJECTS = msgspec.json.Decoder(_Objects)
_DECODE = msgspec.json.Decoder()


def _at(where: str) -> str:
    return f"{where}: " if where else ""


def _check(obj_id: Any, value: Any, update_id: Any, where: str) -> str:
    if isinstance(obj_id, bool) or not isinstance(obj_id, int):
        raise ParseError(f"{_at(where)}indicator has no integer `id` (got {type(obj_id).__name__}); it is skipped")
    if not isinstance(value, str) or not value.strip():
        raise ParseError(f"{_at(where)}indicator id {obj_id} has no `value`; it is skipped")
    if update_id is not None and (isinstance(update_id, bool) or not isinstance(update_id, int)):
        raise ParseError(f"{_at(where)}indicator id {obj_id} has a non-integer `update_id`; it is skipped")
    return value


def _derived(value: str, kind: Any, subtype: Any, ip: Any, modified_ts: Any,
             parse_time: str, row_id: str) -> dict[str, Any]:
    extra: dict[str, Any] = {"match": [fast_canonical(value)]}
    extra.update(indicator_fields(value, kind, subtype, ip))
    extra["p_event_time"] = event_time(modified_ts, parse_time)
    extra["p_parse_time"] = parse_time
    extra["p_log_type"] = LOG_TYPE
    extra["p_row_id"] = row_id
    extra["p_schema_version"] = SCHEMA_VERSION
    return extra


def build_row(obj: Any, *, parse_time: str, row_id: str, where: str = "") -> dict[str, Any]:
    """The lookup row of one decoded API object (a new dict; ``obj`` is not modified).

    Raises ``ParseError`` (with ``where`` in the message) when the object has no integer ``id`` or no ``value``.
    """
    if not isinstance(obj, dict):
        raise ParseError(f"{_at(where)}expected a JSON object, got {type(obj).__name__}; it is skipped")
    value = _check(obj.get("id"), obj.get("value"), obj.get("update_id"), where)
    row = dict(obj)
    row.update(_derived(value, obj.get("type"), obj.get("subtype"), obj.get("ip"), obj.get("modified_ts"),
                        parse_time, row_id))
    return row


def page_objects(page: bytes) -> list[bytes]:
    """Each object's exact JSON bytes from a page body (``{"objects": [...], ...}``)."""
    return [bytes(raw) for raw in _PAGE_OBJECTS.decode(page).objects]


def decode_views(page: bytes) -> list[Any] | None:
    """The views of every object of a page body (``{"objects": [...]}``) in one call; None when the page
    holds anything but objects there (``encode_objects`` then decodes and rejects object by object)."""
    try:
        return _PAGE_VIEWS.decode(page).objects
    except msgspec.DecodeError:
        return None


def _tail(parse_time: str) -> str:
    return f',"p_parse_time":{encode_basestring(parse_time)},"p_log_type":"{LOG_TYPE}","p_row_id":'


def encode_raw(raw: bytes, *, parse_time: str, row_id: str, where: str = "") -> StoredRow:
    """``stored_row(build_row(json.loads(raw)))`` without decoding or re-encoding the whole object.

    The row's JSON is the original object bytes with the derived fields appended, so every API field is
    kept exactly as returned. Raises ``ParseError`` like ``build_row``.
    """
    rows, rejects = encode_objects([raw], None, parse_time=parse_time, row_ids=[row_id], where=[where])
    if rejects:
        raise rejects[0][1]
    match, obj_id, kind, itype, status, confidence, update_id, row = rows[0]
    times = _TIMES_DECODER.decode(raw)
    modified, expires = times.modified_ts, times.expiration_ts
    return StoredRow([match] if match is not None else [], obj_id, kind, itype, status, confidence,
                     modified if type(modified) is str else None, expires if type(expires) is str else None,
                     update_id, row)


def encode_objects(objects: Sequence[bytes], views: list[Any] | None, *, parse_time: str,
                   row_ids: Sequence[str], where: Sequence[str] = ()
                   ) -> tuple[list[LoadRow], list[tuple[int, ParseError]]]:
    """Rows of many objects in load shape (``views``: ``decode_views`` of their page, or None to decode each
    object here; ``row_ids``: one unused ``p_row_id`` per object), and ``(position, error)`` for each object
    rejected. ``where[i]`` prefixes object ``i``'s error."""
    rows: list[LoadRow] = []
    rejects: list[tuple[int, ParseError]] = []
    tail = _tail(parse_time)
    quoted_parse_time = encode_basestring(parse_time)
    if views is None or len(views) != len(objects):
        views = [None] * len(objects)
    add = rows.append
    for index, (raw, view) in enumerate(zip(objects, views, strict=True)):
        if view is None:
            try:
                view = _VIEW_DECODER.decode(raw)
            except msgspec.DecodeError as exc:
                rejects.append((index, ParseError(f"{_at(where[index] if where else '')}not a JSON object ({exc}); "
                                                  "it is skipped")))
                continue
        obj_id, value, update_id = view.id, view.value, view.update_id
        if type(obj_id) is not int or type(value) is not str or (update_id is not None and type(update_id) is not int) \
                or not value.strip():
            try:
                _check(obj_id, value, update_id, where[index] if where else "")
            except ParseError as exc:
                rejects.append((index, exc))
                continue
        row_id = row_ids[index]
        if raw[-1:] != b"}" or not (
                view.match is _ABSENT and view.p_any_ip_addresses is _ABSENT and view.p_any_domain_names is _ABSENT
                and view.p_any_md5_hashes is _ABSENT and view.p_any_sha1_hashes is _ABSENT
                and view.p_any_sha256_hashes is _ABSENT and view.p_any_emails is _ABSENT
                and view.p_event_time is _ABSENT and view.p_parse_time is _ABSENT and view.p_log_type is _ABSENT
                and view.p_row_id is _ABSENT and view.p_schema_version is _ABSENT):
            add(load_row(stored_row(build_row(_DECODE.decode(raw), parse_time=parse_time, row_id=row_id))))
            continue
        kind, modified = view.type, view.modified_ts
        match, members = added_json(value, kind, view.ip)
        if type(modified) is str and len(modified) == 24 and modified[10] == "T" and modified[23] == "Z" \
                and modified[19] == ".":
            when = encode_basestring(f"{modified[:10]} {modified[11:23]}")
        else:
            when = encode_basestring(event_time(modified, parse_time)) if modified is not None else quoted_parse_time
        itype, status, confidence = view.itype, view.status, view.confidence
        add((match, obj_id if -_INT64 <= obj_id <= _INT64 else str(obj_id), kind if type(kind) is str else None,
             itype if type(itype) is str else None, status if type(status) is str else None,
             confidence if type(confidence) is int else None, update_id,
             raw[:-1] + f',{members},"p_event_time":{when}{tail}{encode_basestring(row_id)},'
                        f'"p_schema_version":{SCHEMA_VERSION}}}'.encode()))
    return rows, rejects
