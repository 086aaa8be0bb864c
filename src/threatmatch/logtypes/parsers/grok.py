"""Grok patterns for the ``regex`` parser: ``%{NAME}`` and ``%{NAME:field}`` expanded into an RE2 expression.

``%{NAME}`` becomes ``(?:<NAME's expression>)``; ``%{NAME:field}`` a named group ``(?P<field>...)`` (a third part,
``%{NUMBER:bytes:int}``, is accepted and ignored: the schema's field type decides). Names are looked up in the
schema's ``patternDefinitions`` first, then in ``BUILTIN`` below; definitions may use other names. The expressions
are RE2 syntax (no look-around, no back-references), matched in linear time whatever the line.
"""

from __future__ import annotations

import re

from threatmatch.logtypes.parsers.common import PLACEHOLDER

__all__ = ["BUILTIN", "GrokError", "expand"]

_MONTHS = ("[Jj]an(?:uary)?|[Ff]eb(?:ruary)?|[Mm]ar(?:ch)?|[Aa]pr(?:il)?|[Mm]ay|[Jj]un(?:e)?|[Jj]ul(?:y)?|"
           "[Aa]ug(?:ust)?|[Ss]ep(?:t(?:ember)?)?|[Oo]ct(?:ober)?|[Nn]ov(?:ember)?|[Dd]ec(?:ember)?")
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_H16 = "[0-9A-Fa-f]{1,4}"

BUILTIN: dict[str, str] = {
    # text
    "WORD": r"\b\w+\b",
    "NOTSPACE": r"\S+",
    "SPACE": r"\s*",
    "DATA": r".*?",
    "GREEDYDATA": r".*",
    "QUOTEDSTRING": r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'',
    "QS": r"%{QUOTEDSTRING}",
    "UUID": r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}",
    "USERNAME": r"[a-zA-Z0-9._-]+",
    "USER": r"%{USERNAME}",
    "EMAILLOCALPART": r"[a-zA-Z0-9][a-zA-Z0-9_.+-]*",
    "EMAILADDRESS": r"%{EMAILLOCALPART}@%{HOSTNAME}",
    "LOGLEVEL": (r"(?i:alert|trace|debug|notice|info(?:rmation)?|warn(?:ing)?|err(?:or)?|crit(?:ical)?|fatal|"
                 r"severe|emerg(?:ency)?)"),
    # numbers
    "INT": r"[+-]?[0-9]+",
    "BASE10NUM": r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)",
    "NUMBER": r"%{BASE10NUM}",
    "BASE16NUM": r"[+-]?(?:0[xX])?[0-9A-Fa-f]+",
    "POSINT": r"[1-9][0-9]*",
    "NONNEGINT": r"[0-9]+",
    # network
    "IPV4": rf"{_OCTET}(?:\.{_OCTET}){{3}}",
    "IPV6": (rf"(?:{_H16}:){{7}}{_H16}|(?:{_H16}:){{1,7}}:|(?:{_H16}:){{1,6}}:{_H16}|"
             rf"(?:{_H16}:){{1,5}}(?::{_H16}){{1,2}}|(?:{_H16}:){{1,4}}(?::{_H16}){{1,3}}|"
             rf"(?:{_H16}:){{1,3}}(?::{_H16}){{1,4}}|(?:{_H16}:){{1,2}}(?::{_H16}){{1,5}}|"
             rf"{_H16}:(?::{_H16}){{1,6}}|:(?:(?::{_H16}){{1,7}}|:)|"
             rf"(?:{_H16}:){{6}}%{{IPV4}}|::(?:[Ff]{{4}}:)?%{{IPV4}}|(?:{_H16}:){{1,4}}:%{{IPV4}}"),
    "IP": r"%{IPV6}|%{IPV4}",
    "HOSTNAME": r"\b[0-9A-Za-z](?:[0-9A-Za-z-]{0,62})(?:\.[0-9A-Za-z](?:[0-9A-Za-z-]{0,62}))*\.?\b",
    "HOST": r"%{HOSTNAME}",
    "IPORHOST": r"%{IP}|%{HOSTNAME}",
    "HOSTPORT": r"%{IPORHOST}:%{POSINT}",
    "MAC": r"(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}|(?:[0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4}",
    # paths and URIs
    "UNIXPATH": r"(?:/[^/\s?#]*)+",
    "PATH": r"%{UNIXPATH}",
    "URIPROTO": r"[A-Za-z][A-Za-z0-9+.-]*",
    "URIHOST": r"%{IPORHOST}(?::%{POSINT})?",
    "URIPATH": r"(?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_-]*)+",
    "URIPARAM": r"\?[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\[\]<>-]*",
    "URIPATHPARAM": r"%{URIPATH}(?:%{URIPARAM})?",
    "URI": r"%{URIPROTO}://(?:%{USER}(?::[^@]*)?@)?%{URIHOST}?(?:%{URIPATHPARAM})?",
    # dates and times
    "MONTH": rf"\b(?:{_MONTHS})\b",
    "MONTHNUM": r"0?[1-9]|1[0-2]",
    "MONTHDAY": r"0[1-9]|[12][0-9]|3[01]|[1-9]",
    "DAY": r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*",
    "YEAR": r"[0-9]{4}|[0-9]{2}",
    "HOUR": r"2[0-3]|[01]?[0-9]",
    "MINUTE": r"[0-5][0-9]",
    "SECOND": r"(?:[0-5]?[0-9]|60)(?:[.,:][0-9]+)?",
    "TIME": r"%{HOUR}:%{MINUTE}(?::%{SECOND})?",
    "ISO8601_TIMEZONE": r"Z|[+-](?:%{HOUR})(?::?%{MINUTE})?",
    "TIMESTAMP_ISO8601": r"%{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(?::?%{SECOND})?%{ISO8601_TIMEZONE}?",
    "HTTPDATE": r"%{MONTHDAY}/%{MONTH}/%{YEAR}:%{TIME} [+-][0-9]{4}",
    "SYSLOGTIMESTAMP": r"%{MONTH} +%{MONTHDAY} %{TIME}",
}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_DEPTH = 20


class GrokError(ValueError):
    """A pattern that cannot be expanded; the message says which reference and why."""


def expand(pattern: str, definitions: dict[str, str], depth: int = 0) -> str:
    """``pattern`` with every ``%{NAME}`` / ``%{NAME:field}`` replaced."""
    if depth > MAX_DEPTH:
        raise GrokError(f"patterns nest deeper than {MAX_DEPTH} levels (a pattern that uses itself?)")

    def replace(found: re.Match[str]) -> str:
        parts = found.group(1).split(":")
        name = parts[0].strip()
        if len(parts) > 3 or not _NAME.fullmatch(name):
            raise GrokError(f"%{{{found.group(1)}}} is not a pattern reference (write %{{NAME}} or %{{NAME:field}})")
        body = definitions.get(name, BUILTIN.get(name))
        if body is None:
            known = ", ".join(sorted(BUILTIN))
            raise GrokError(f"unknown pattern %{{{name}}}: define it under patternDefinitions (built in: {known})")
        inner = expand(body, definitions, depth + 1)
        field = parts[1].strip() if len(parts) > 1 else ""
        return f"(?P<{field}>{inner})" if field else f"(?:{inner})"

    return PLACEHOLDER.sub(replace, pattern)
