"""STIX 2.0 / 2.1 indicators as feed entries (pure).

A ``stix`` feed is a STIX bundle (``{"type": "bundle", "objects": [...]}``), a TAXII 2.1 envelope (``{"objects":
[...]}``; ``FeedSource`` follows a collection's pages and joins them, so an envelope still saying ``"more": true``
here is refused rather than read in part), a plain list of objects or one object. Each ``indicator`` object whose
``pattern_type`` is ``stix`` (the default) gives one entry per value its pattern compares with ``=`` on an object
path threatmatch matches:

==============================================  =====================
object path                                     indicator
==============================================  =====================
``ipv4-addr:value``, ``ipv6-addr:value``        address or CIDR block
``domain-name:value``                           domain
``url:value``                                   URL
``email-addr:value``, ``email-message:from_ref.value``, ``email-message:sender_ref.value``   e-mail address
``file:hashes.MD5`` / ``'SHA-1'`` / ``'SHA-256'`` / ``'SHA-512'`` (any case)   digest
==============================================  =====================

Comparisons joined by ``OR`` (inside one observation or between observations) each give an entry: any of them
matching is the indicator matching. A pattern needing several things at once (``AND``, ``FOLLOWEDBY``, qualifiers
such as ``WITHIN``), another operator, or only other object paths is rejected with the reason, as are revoked
indicators. Other objects (reports, malware, relationships...) are context, not counted.

Each entry keeps ``name``, ``description``, ``indicator_types`` (2.1) or ``labels`` (2.0), ``kill_chain_phases``,
``pattern``, ``valid_from``, the STIX ``id`` (as ``stix_id``) and ``created``; ``modified`` becomes the row's
``modified_ts``, ``valid_until`` its ``expiration_ts`` (an expired indicator is not active), and a STIX 2.1
``confidence`` (0-100) the row's confidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from threatmatch.errors import ParseError
from threatmatch.providers.feed.parse import Entry, Rejected

_TOKEN = re.compile(r"""\s*(?:
    (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<punct>[\[\]()])
  | (?P<op><=|>=|!=|=|<|>)
  | (?P<word>[A-Za-z0-9_:.'-]+(?:\[\*\]|\[\d+\])?(?:\.[A-Za-z0-9_'-]+)*)
)""", re.X)
_PATHS = {
    "ipv4-addr:value", "ipv6-addr:value", "domain-name:value", "url:value", "email-addr:value",
    "email-message:from_ref.value", "email-message:sender_ref.value",
}
_HASHES = {"md5", "sha-1", "sha1", "sha-256", "sha256", "sha-512", "sha512"}
_KEEP = ("name", "description", "indicator_types", "labels", "kill_chain_phases", "pattern", "valid_from", "created")
_MULTI = {"AND", "FOLLOWEDBY", "WITHIN", "START", "STOP", "REPEATS", "TIMES", "SECONDS"}


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


def _matchable(path: str) -> bool:
    if path in _PATHS:
        return True
    head, _, key = path.partition(":hashes.")
    return head == "file" and key.strip("'").lower() in _HASHES


def pattern_values(pattern: str) -> tuple[list[str], str | None]:
    """The values a STIX pattern compares with ``=`` on paths threatmatch matches, joined by ``OR``; or the
    reason it cannot be matched on one value (then the list is empty)."""
    tokens: list[tuple[str, str]] = []
    at = 0
    text = pattern.strip()
    while at < len(text):
        found = _TOKEN.match(text, at)
        if found is None or found.end() == at:
            return [], f"the pattern cannot be read at character {at + 1}"
        kind = found.lastgroup or ""
        tokens.append((kind, found.group(kind)))
        at = found.end()
    words = {value.upper() for kind, value in tokens if kind == "word"}
    if words & _MULTI:
        return [], "the pattern needs several observations at once (AND, FOLLOWEDBY or a qualifier): no single " \
                   "value matches it"
    values: list[str] = []
    others: list[str] = []
    for index in range(len(tokens) - 2):
        (k1, path), (k2, op), (k3, literal) = tokens[index:index + 3]
        if k1 != "word" or k2 != "op" or k3 != "string" or ":" not in path:
            continue
        if op != "=":
            others.append(f"{path} {op}")
        elif _matchable(path):
            values.append(_unquote(literal))
        else:
            others.append(path)
    if values:
        return values, None
    if others:
        return [], f"the pattern compares {', '.join(sorted(set(others)))}, not a value threatmatch matches"
    return [], "the pattern has no comparison"


def _objects(body: bytes) -> list[Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"the STIX feed is not valid JSON ({exc})") from None
    if isinstance(data, dict) and data.get("more") is True:
        raise ParseError("the TAXII server says more objects follow (\"more\": true) than this answer holds; paging "
                         "through a collection is not supported: point --url at a bundle, or narrow the request "
                         "(?added_after=..., ?limit=...) so one answer holds every object")
    if isinstance(data, dict) and isinstance(data.get("objects"), list):
        return list(data["objects"])
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and isinstance(data.get("type"), str):
        return [data]  # one STIX object on its own
    raise ParseError("the STIX feed is neither a bundle, a TAXII envelope (an \"objects\" list) nor a STIX object")


def parse_stix(body: bytes) -> Iterator[Entry | Rejected]:
    """Entries of a STIX bundle; ``line`` is the object's 1-based position in ``objects``."""
    for number, obj in enumerate(_objects(body), start=1):
        if not isinstance(obj, dict) or obj.get("type") != "indicator":
            continue
        if obj.get("revoked") is True:
            yield Rejected(number, f"indicator {obj.get('id')} is revoked")
            continue
        kind = obj.get("pattern_type", "stix")
        pattern = obj.get("pattern")
        if kind != "stix" or not isinstance(pattern, str):
            yield Rejected(number, f"indicator {obj.get('id')} has a {kind!r} pattern, not a STIX one")
            continue
        values, why = pattern_values(pattern)
        if why is not None:
            yield Rejected(number, f"indicator {obj.get('id')}: {why}")
            continue
        extra: dict[str, Any] = {key: obj[key] for key in _KEEP if key in obj}
        if "id" in obj:
            extra["stix_id"] = obj["id"]
        own: dict[str, Any] = {}
        if isinstance(obj.get("modified"), str):
            own["modified_ts"] = obj["modified"]
        if isinstance(obj.get("valid_until"), str):
            own["expiration_ts"] = obj["valid_until"]
        confidence = obj.get("confidence")
        if isinstance(confidence, int) and not isinstance(confidence, bool) and 0 <= confidence <= 100:
            own["confidence"] = confidence
        for value in values:
            yield Entry(number, value, extra, own)
