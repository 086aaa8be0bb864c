"""Syslog RFC 5424 lines -> Panther's ``Syslog.RFC5424`` fields.

``<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]``: ``-`` (NILVALUE) leaves
a field out; PRI gives ``priority``, ``facility`` and ``severity``; structured data becomes
``{sd-id: {param: value}}`` with ``\\"``, ``\\\\`` and ``\\]`` unescaped (a repeated parameter becomes a
list); a UTF-8 BOM before MSG is dropped. An octet-count prefix (``123 <34>1 ...``, TCP framing) is accepted.
"""

from __future__ import annotations

from typing import Any

from threatmatch.logtypes.parsers.common import LineParser, Reject, line_by_line
from threatmatch.logtypes.timestamps import parse_rfc3339

_HEADER_LIMITS = (("hostname", 255), ("appname", 48), ("procid", 128), ("msgid", 32))


def _word(line: str, index: int, name: str, limit: int) -> tuple[str, int]:
    end = line.find(" ", index)
    if end < 0:
        raise Reject(f"line ends at {name}: expected TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA")
    word = line[index:end]
    if not word or len(word) > limit or not all("!" <= ch <= "~" for ch in word):
        raise Reject(f"{name} must be 1-{limit} printable ASCII characters, got {word[:40]!r}")
    return word, end + 1


def _sd_name(line: str, index: int, stops: str, what: str) -> tuple[str, int]:
    end = index
    while end < len(line) and line[end] not in stops:
        if not "!" <= line[end] <= "~" or line[end] in '="]':
            raise Reject(f"bad character {line[end]!r} in structured-data {what} at column {end + 1}")
        end += 1
    if end == index or end - index > 32:
        raise Reject(f"structured-data {what} must be 1-32 characters at column {index + 1}")
    return line[index:end], end


def _sd_value(line: str, index: int) -> tuple[str, int]:
    pieces: list[str] = []
    while index < len(line):
        char = line[index]
        if char == "\\" and line[index + 1 : index + 2] in ('"', "\\", "]"):
            pieces.append(line[index + 1])
            index += 2
        elif char == '"':
            return "".join(pieces), index + 1
        else:
            pieces.append(char)
            index += 1
    raise Reject("unterminated structured-data parameter value")


def _structured(line: str, index: int) -> tuple[dict[str, dict[str, Any]] | None, int]:
    if line[index : index + 1] == "-":
        return None, index + 1
    elements: dict[str, dict[str, Any]] = {}
    while line[index : index + 1] == "[":
        sd_id, index = _sd_name(line, index + 1, " ]", "id")
        params: dict[str, Any] = {}
        while line[index : index + 1] == " ":
            name, index = _sd_name(line, index + 1, "=", "parameter name")
            if line[index : index + 2] != '="':
                raise Reject(f'expected ="value" after structured-data parameter {name!r}')
            value, index = _sd_value(line, index + 2)
            if name in params:
                previous = params[name]
                params[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                params[name] = value
        if line[index : index + 1] != "]":
            raise Reject(f"expected ']' closing structured-data element {sd_id!r} at column {index + 1}")
        elements[sd_id] = params
        index += 1
    if not elements:
        raise Reject("expected structured data ('-' or [id ...])")
    return elements, index


def parse_line(line: str) -> dict[str, Any]:
    """One RFC 5424 line -> event dict; Reject with the reason otherwise."""
    if line[:1].isdigit() and " <" in line[:12]:
        count, _, rest = line.partition(" ")
        if count.isdigit():
            line = rest
    if not line.startswith("<"):
        raise Reject("expected <PRI> at the start of an RFC 5424 syslog line")
    close = line.find(">", 1, 5)
    pri_text = line[1:close] if close > 0 else ""
    if not pri_text.isdigit() or int(pri_text) > 191 or (len(pri_text) > 1 and pri_text[0] == "0"):
        raise Reject(f"bad PRI {line[: max(close + 1, 5)]!r}: expected <0> to <191>")
    priority = int(pri_text)
    version, _, _ = line[close + 1 : close + 4].partition(" ")
    if not version.isdigit() or version[0] == "0":
        raise Reject("expected a version number after <PRI> (RFC 3164 lines are not RFC 5424)")
    event: dict[str, Any] = {"priority": priority, "facility": priority // 8, "severity": priority % 8,
                             "version": int(version)}
    index = close + 1 + len(version) + 1
    stamp, index = _word(line, index, "timestamp", 64)
    if stamp != "-":
        if parse_rfc3339(stamp) is None:
            raise Reject(f"bad timestamp {stamp[:40]!r}: expected RFC 3339 or '-'")
        event["timestamp"] = stamp
    for name, limit in _HEADER_LIMITS:
        word, index = _word(line, index, name, limit)
        if word != "-":
            event[name] = word
    structured, index = _structured(line, index)
    if structured is not None:
        event["structured_data"] = structured
    if index < len(line):
        if line[index] != " ":
            raise Reject(f"expected a space before the message at column {index + 1}")
        message = line[index + 1 :]
        if message.startswith("\ufeff"):
            message = message[1:]
        if message:
            event["message"] = message
    return event


def syslog5424_parser() -> LineParser:
    """Parser for RFC 5424 lines."""

    return line_by_line(parse_line)
