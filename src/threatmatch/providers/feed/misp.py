"""MISP attributes as feed entries (pure).

A ``misp`` feed is MISP event JSON as MISP exports and serves it: ``{"Event": {...}}`` (a MISP feed's event file),
a bare event, ``{"response": [{"Event": ...}, ...]}`` or a list of those (the REST API's event search), or
``{"response": {"Attribute": [...]}}`` (``/attributes/restSearch``). Every attribute (those of the event's objects
too) is counted, numbered in order; those MISP marks for detection (``to_ids``) whose type is an indicator give
entries:

=====================================================================  =============================
MISP type                                                              indicator
=====================================================================  =============================
``ip-src``, ``ip-dst`` (``|port``: the port is kept)                   address or CIDR block
``domain``, ``hostname``; ``domain|ip``                                 domain; the domain and the address
``url``                                                                URL
``email``, ``email-src``, ``email-dst``                                e-mail address
``md5``, ``sha1``, ``sha256``, ``sha512``; ``filename|<hash>``          digest (the file name is kept)
=====================================================================  =============================

Others (``to_ids`` false: context, not for detection; deleted attributes; types such as ``text``, ``link``,
``filename``, ``regkey``, ``mutex``) are rejected with the reason, so the sync's counts account for every
attribute. Each entry keeps ``misp_type``, ``category``, ``comment``, ``misp_uuid``, ``event_info``,
``event_uuid``, ``event_date`` and ``tags`` (the event's and the attribute's); the attribute's ``timestamp``
becomes the row's ``modified_ts``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from threatmatch.errors import ParseError
from threatmatch.providers.feed.parse import Entry, Rejected

_SINGLE = {"ip-src", "ip-dst", "domain", "hostname", "url", "email", "email-src", "email-dst", "md5", "sha1",
           "sha256", "sha512"}
_FILE_HASHES = {"filename|md5", "filename|sha1", "filename|sha256", "filename|sha512"}
_WITH_PORT = {"ip-src|port", "ip-dst|port"}


def _events(body: bytes) -> Iterator[dict[str, Any]]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"the MISP feed is not valid JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("response"), dict | list):
        data = data["response"]
    items = data if isinstance(data, list) else [data]
    found = False
    for item in items:
        event = item.get("Event", item) if isinstance(item, dict) else None
        if isinstance(event, dict) and ("Attribute" in event or "Object" in event or "info" in event):
            found = True
            yield event
    if not found:
        raise ParseError("the MISP feed holds no event (expected {\"Event\": {...}}, {\"response\": [...]} or "
                         "an attribute search result)")


def _tags(*holders: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for holder in holders:
        for tag in holder.get("Tag") or []:
            name = tag.get("name") if isinstance(tag, dict) else None
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names


def _when(value: Any) -> str | None:
    try:
        return datetime.fromtimestamp(int(value), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _values(kind: str, value: str) -> tuple[list[str], dict[str, Any]] | str:
    """The indicator values of one attribute and fields it adds, or why it has none."""
    if kind in _SINGLE:
        return [value], {}
    first, _, second = value.partition("|")
    if kind == "domain|ip":
        return [part for part in (first, second) if part], {}
    if kind in _FILE_HASHES:
        return [second], {"filename": first} if first else {}
    if kind in _WITH_PORT:
        return [first], {"port": int(second)} if second.isdigit() else {}
    return f"MISP type {kind!r} is not an indicator threatmatch matches"


def parse_misp(body: bytes) -> Iterator[Entry | Rejected]:
    """Entries of MISP event JSON; ``line`` is the attribute's 1-based position over every event."""
    number = 0
    for event in _events(body):
        context = {"event_info": event.get("info"), "event_uuid": event.get("uuid"), "event_date": event.get("date")}
        context = {key: value for key, value in context.items() if value}
        attributes = [(attribute, None) for attribute in event.get("Attribute") or []]
        for obj in event.get("Object") or []:
            if isinstance(obj, dict):
                attributes += [(attribute, obj.get("name")) for attribute in obj.get("Attribute") or []]
        for attribute, object_name in attributes:
            number += 1
            if not isinstance(attribute, dict):
                yield Rejected(number, "not a MISP attribute object")
                continue
            kind, value = attribute.get("type"), attribute.get("value")
            if attribute.get("deleted") in (True, "1", 1):
                yield Rejected(number, f"attribute {attribute.get('uuid')} is deleted")
                continue
            if not isinstance(kind, str) or not isinstance(value, str) or not value.strip():
                yield Rejected(number, "the attribute has no type or no value")
                continue
            if attribute.get("to_ids") not in (True, "1", 1):
                yield Rejected(number, f"{kind} {value[:80]!r} has to_ids false: MISP marks it as context, not for "
                                       "detection")
                continue
            found = _values(kind, value.strip())
            if isinstance(found, str):
                yield Rejected(number, found)
                continue
            values, more = found
            extra: dict[str, Any] = {"misp_type": kind, **more, **context}
            for key in ("category", "comment"):
                if attribute.get(key):
                    extra[key] = attribute[key]
            if object_name:
                extra["misp_object"] = object_name
            if attribute.get("uuid"):
                extra["misp_uuid"] = attribute["uuid"]
            tags = _tags(event, attribute)
            if tags:
                extra["tags"] = tags
            own = {"modified_ts": moment} if (moment := _when(attribute.get("timestamp"))) else {}
            for item in values:
                yield Entry(number, item, extra, own)
