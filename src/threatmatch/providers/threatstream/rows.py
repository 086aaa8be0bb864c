"""ThreatStream indicator -> lookup-table row (pure: no I/O, no clock).

A row is the API object exactly as returned (ids stay ints, timestamps stay ISO text, unknown
fields kept) plus the fields Panther adds to an ``Anomali.Indicator`` row:

* ``match``: one-element list, the indicator ``value`` in canonical form
  (``threatmatch.indicators.normalize.canonical``: IPs canonical, domains/e-mails/hashes lower-cased);
* ``p_any_*``: indicator fields chosen by ``type`` (hash kind from ``subtype``, else hex length);
  a domain/url row's resolved ``ip`` goes to ``p_any_ip_addresses``, a url's host to
  ``p_any_domain_names`` (or ``p_any_ip_addresses`` when the host is an address); empty lists omitted;
* ``p_event_time`` (= ``modified_ts``), ``p_parse_time``, ``p_log_type``, ``p_row_id``, ``p_schema_version``.

Two equivalent entry points: ``build_row`` works on a decoded dict (reference, any caller) and
``encode_raw`` works on the raw JSON bytes of one object (sync hot path: decodes only the few fields
it needs and appends the derived ones to the original bytes, so every API field is kept byte for byte).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import orjson

from threatmatch.errors import ParseError
from threatmatch.indicators.normalize import (
    canonical,
    hash_kind,
    normalize_domain,
    normalize_email,
    normalize_hash,
    normalize_ip,
)
from threatmatch.storage.lookup_store import StoredRow, stored_id, stored_row
from threatmatch.timefmt import iso_to_panther

LOG_TYPE = "Anomali.Indicator"
SCHEMA_VERSION = 0
_HASH_FIELDS = {"md5": "p_any_md5_hashes", "sha1": "p_any_sha1_hashes", "sha256": "p_any_sha256_hashes"}
_HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}


class _View(msgspec.Struct, gc=False):
    """The only fields of an indicator the hot path decodes."""

    id: Any = None
    value: Any = None
    type: Any = None
    subtype: Any = None
    itype: Any = None
    status: Any = None
    confidence: Any = None
    ip: Any = None
    modified_ts: Any = None
    expiration_ts: Any = None
    update_id: Any = None


_VIEW_DECODER = msgspec.json.Decoder(_View)


def event_time(modified_ts: Any, parse_time: str) -> str:
    """``modified_ts`` as Panther text (``YYYY-MM-DD HH:MM:SS.fff`` UTC); ``parse_time`` when absent or unparsable."""
    if isinstance(modified_ts, str):
        text = modified_ts
        # Fast path for the API's own shape: 2023-08-11T10:35:52.302Z
        if len(text) == 24 and text[10] == "T" and text[23] == "Z" and text[19] == ".":
            return f"{text[:10]} {text[11:23]}"
        converted = iso_to_panther(text)
        if converted is not None:
            return converted
    return parse_time


def url_host(url: str) -> str | None:
    """The host part of a URL (``http://user@[::1]:8080/x`` -> ``::1``), scheme optional; None when empty."""
    rest = url.strip()
    scheme = rest.find("://")
    if scheme >= 0:
        rest = rest[scheme + 3:]
    for separator in ("/", "?", "#", "\\"):
        cut = rest.find(separator)
        if cut >= 0:
            rest = rest[:cut]
    rest = rest[rest.rfind("@") + 1:]
    if rest.startswith("["):
        end = rest.find("]")
        return rest[1:end] or None if end > 0 else None
    if rest.count(":") == 1:
        rest = rest.split(":", 1)[0]
    return rest or None


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def fast_ip(text: str) -> str | None:
    """``normalize_ip`` with a shortcut: canonical dotted-quad text is returned as is (no ``ipaddress`` parse)."""
    if _IPV4.fullmatch(text):
        return text
    if "/" in text:  # URLs and CIDR blocks: ipaddress rejects any "/" in an address
        return None
    if ":" in text or "[" in text or (text and (text[0].isspace() or text[-1].isspace())):
        return normalize_ip(text)
    return None  # no colon, no bracket, not a canonical dotted quad: normalize_ip refuses it too


def fast_canonical(value: str) -> str:
    """``canonical`` with shortcuts for the common indicator shapes (equal results, see the property tests)."""
    address = fast_ip(value)
    if address is not None:
        return address
    if "://" in value:  # never an address; canonical() keeps URLs as written
        return value
    if ":" in value or "/" in value or "[" in value or (value and value[0].isspace()):
        return canonical(value)
    if "@" in value:  # not an address, URL or CIDR block, and never a hex digest
        return normalize_email(value) or value
    # Not an address, URL, CIDR block or e-mail: canonical() would try a hex digest, then a domain.
    return normalize_hash(value) or normalize_domain(value) or value


def _hash_field(value: str, subtype: Any) -> tuple[str, str] | None:
    digest = normalize_hash(value)
    if digest is None:
        return None
    kind = hash_kind(digest, subtype if isinstance(subtype, str) else None)
    if kind is None or _HASH_LENGTHS[kind] != len(digest):  # a subtype contradicting the length is ignored
        kind = hash_kind(digest)
    field = _HASH_FIELDS.get(kind or "")
    return (field, digest) if field else None


def indicator_fields(value: str, kind: Any, subtype: Any, ip: Any) -> dict[str, list[str]]:
    """The ``p_any_*`` fields of one indicator, by its ThreatStream ``type``."""
    ips: list[str] = []
    domains: list[str] = []
    found: dict[str, list[str]] = {}
    if kind in ("ip", "ipv6"):
        address = fast_ip(value)
        if address is not None:
            ips.append(address)
    elif kind == "domain":
        domain = normalize_domain(value)
        if domain is not None:
            domains.append(domain)
    elif kind == "url":
        host = url_host(value)
        if host is not None:
            address = fast_ip(host)
            if address is not None:
                ips.append(address)
            else:
                domain = normalize_domain(host)
                if domain is not None:
                    domains.append(domain)
    elif kind == "email":
        email = normalize_email(value)
        if email is not None:
            found["p_any_emails"] = [email]
    elif kind == "md5":
        hashed = _hash_field(value, subtype)
        if hashed is not None:
            found[hashed[0]] = [hashed[1]]
    if isinstance(ip, str) and ip and kind in ("ip", "ipv6", "domain", "url") and not (ips and ip == value):
        address = fast_ip(ip)
        if address is not None and address not in ips:
            ips.append(address)
    out: dict[str, list[str]] = {}
    if ips:
        out["p_any_ip_addresses"] = sorted(ips)
    if domains:
        out["p_any_domain_names"] = domains
    out.update(found)
    return out


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


def encode_raw(raw: bytes, *, parse_time: str, row_id: str, where: str = "") -> StoredRow:
    """``stored_row(build_row(json.loads(raw)))`` without decoding or re-encoding the whole object.

    The row's JSON is the original object bytes with the derived fields appended, so every API field is
    kept exactly as returned. Raises ``ParseError`` like ``build_row``.
    """
    try:
        view = _VIEW_DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise ParseError(f"{_at(where)}not a JSON object ({exc}); it is skipped") from exc
    obj_id, value, update_id = view.id, view.value, view.update_id
    if type(obj_id) is not int or type(value) is not str or (update_id is not None and type(update_id) is not int) \
            or not value.strip():
        value = _check(obj_id, value, update_id, where)  # raises with the precise reason
    if raw[-1:] != b"}" or b'"p_' in raw or b'"match"' in raw:  # keys we add: take the dict path
        return stored_row(build_row(msgspec.json.decode(raw), parse_time=parse_time, row_id=row_id, where=where))
    kind, modified = view.type, view.modified_ts
    derived = _derived(value, kind, view.subtype, view.ip, modified, parse_time, row_id)
    extra = orjson.dumps(derived)
    itype, status, confidence, expires = view.itype, view.status, view.confidence, view.expiration_ts
    return StoredRow(  # positional: match, id, type, itype, status, confidence, modified_ts, expiration_ts, ...
        derived["match"], stored_id(obj_id), kind if type(kind) is str else None,
        itype if type(itype) is str else None, status if type(status) is str else None,
        confidence if type(confidence) is int else None, modified if type(modified) is str else None,
        expires if type(expires) is str else None, update_id, b"".join((raw[:-1], b",", extra[1:])),
    )
