"""NCSA common / combined access logs (Apache, nginx) with their common variants.

Layout: ``[vhost] host ident user [time] "request" status bytes ["referer" "user-agent"] [extras...]``.
A leading virtual host (``lessons.example.com 192.168.0.1 - - [...]``) is recognised by the position of
the ``[time]`` field. Extras after the user agent: a quoted value (nginx ``"$http_x_forwarded_for"``)
or ``X-Forwarded-For="..."`` go to the ``forwardedFor`` slot; anything else (e.g. a response time) to
``extra`` (a list) so nothing is lost. ``forwardedFor`` is split on commas into a list of hops.
``-`` means absent. The request line is also split into
method / uri / protocol when it has exactly those three parts.

The ``fields`` option maps these slots to schema field names: vhost, host, ident, user, time, request,
method, uri, protocol, status, bytes, referer, userAgent, forwardedFor, extra.
"""

from __future__ import annotations

import re
from typing import Any

from threatmatch.logtypes.parsers.common import (
    Coercer,
    LineParser,
    Reject,
    coerce_into,
    line_by_line,
)
from threatmatch.logtypes.parsers.tokens import tokenize

SLOTS = ("vhost", "host", "ident", "user", "time", "request", "method", "uri", "protocol", "status", "bytes",
         "referer", "userAgent", "forwardedFor", "extra")


_WORD = r'[^ \t"\[]+'
_TEXT = r'[^"\\]*'
# The plain combined/common line (single spaces, no escapes in quotes, no virtual host, no extras): one match gives
# what the tokenizer below gives for it (a test holds them equal); every other line takes the tokenizer.
_PLAIN = re.compile(rf'({_WORD}) ({_WORD}) ({_WORD}) \[([^\]]*)\] "({_TEXT})" ({_WORD}) ({_WORD})'
                    rf'(?: "({_TEXT})" "({_TEXT})")?')


def _plain(line: str) -> dict[str, Any] | None:
    """The slots of a plain combined/common line, or None when the line needs the tokenizer."""
    found = _PLAIN.fullmatch(line)
    if found is None:
        return None
    host, ident, user, time, request, status, size, referer, agent = found.groups()
    slots: dict[str, Any] = {"host": host, "ident": ident, "user": user, "time": time, "request": request}
    parts = request.split(" ")
    if len(parts) == 3 and all(parts):
        slots["method"], slots["uri"], slots["protocol"] = parts
    slots["status"], slots["bytes"] = status, size
    if referer is not None:
        slots["referer"], slots["userAgent"] = referer, agent
    return {key: value for key, value in slots.items() if value != "-"}


def split_line(line: str) -> dict[str, Any]:
    """Slots of one access-log line (absent slots left out); Reject when it is not CLF."""
    plain = _plain(line)
    if plain is not None:
        return plain
    return _split_tokens(line)


def _split_tokens(line: str) -> dict[str, Any]:
    """``split_line`` through the tokenizer: any variant (virtual host, escapes, extras, tabs)."""
    tokens = tokenize(line)
    at = next((i for i, token in enumerate(tokens) if token.bracketed), -1)
    if at < 0:
        raise Reject("no [time] field: not a common/combined log line")
    if at not in (3, 4):
        raise Reject(f"expected 'host ident user [time]' at the start, found {at} fields before [time]")
    slots: dict[str, Any] = {}
    if at == 4:
        slots["vhost"] = tokens[0].text
    for name, token in zip(("host", "ident", "user"), tokens[at - 3 : at], strict=True):
        if token.quoted or token.bracketed:
            raise Reject(f"{name} field must be a bare word")
        slots[name] = token.text
    slots["time"] = tokens[at].text
    rest = tokens[at + 1 :]
    if len(rest) < 3 or not rest[0].quoted:
        raise Reject('expected "request" status bytes after [time]')
    slots["request"] = rest[0].text
    parts = rest[0].text.split(" ")
    if len(parts) == 3 and all(parts):
        slots["method"], slots["uri"], slots["protocol"] = parts
    slots["status"], slots["bytes"] = rest[1].text, rest[2].text
    if rest[1].quoted or rest[2].quoted:
        raise Reject("status and bytes must be bare numbers")
    tail = rest[3:]
    extra: list[str] = []
    quoted_seen = 0
    for token in tail:
        if token.key:
            if token.key.lower() == "x-forwarded-for":
                slots["forwardedFor"] = token.text
            else:
                extra.append(f"{token.key}={token.text}")
        elif token.quoted:
            slot = ("referer", "userAgent", "forwardedFor")[quoted_seen] if quoted_seen < 3 else None
            quoted_seen += 1
            if slot is None:
                extra.append(token.text)
            else:
                slots[slot] = token.text
        else:
            extra.append(token.text)
    if extra:
        slots["extra"] = extra
    forwarded = slots.pop("forwardedFor", None)
    if forwarded is not None:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip() not in ("", "-")]
        if hops:
            slots["forwardedFor"] = hops
    return {key: value for key, value in slots.items() if value != "-"}


def clf_parser(mapping: dict[str, str], typed: dict[str, Coercer]) -> LineParser:
    """A CLF parser storing slots under the schema names in ``mapping``."""
    pairs = tuple((slot, mapping[slot]) for slot in SLOTS if slot in mapping)

    def row(line: str) -> dict[str, Any]:
        slots = split_line(line)
        event: dict[str, Any] = {}
        for slot, name in pairs:
            value = slots.get(slot)
            if value is None:
                continue
            if value.__class__ is list:
                event[name] = value
            else:
                coerce_into(event, name, value, typed)
        return event

    return line_by_line(row)
