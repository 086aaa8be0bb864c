"""Timestamp parsing for schema ``timeFormat``/``timeFormats`` -> Panther UTC text (pure).

Output is ``YYYY-MM-DD HH:MM:SS.fff``: the fraction keeps the digits the input gave (up to 9, so
nanosecond sources such as ``2024-08-15T15:08:22.176160519Z`` keep them), trailing zeros trimmed
but never fewer than 3 digits. Supported formats:

* ``rfc3339``: ``2018-08-26T14:17:23.186641Z``, ``+hh:mm``/``+hhmm`` offsets, ``T`` or space, no zone = UTC;
* ``unix`` / ``unix_ms`` / ``unix_us`` / ``unix_ns``: epoch numbers (JSON numbers or digit strings);
* any pattern containing ``%`` is a ``strptime`` pattern (``%d/%b/%Y:%H:%M:%S %z``); naive = UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

TimeParser = Callable[[Any], "str | None"]

NAMED_FORMATS = ("rfc3339", "unix", "unix_ms", "unix_us", "unix_ns")
_EPOCH_SCALE = {"unix": 0, "unix_ms": 3, "unix_us": 6, "unix_ns": 9}
_EPOCH = datetime(1970, 1, 1)


def fraction(digits: str) -> str:
    """Normalise fraction digits: at most 9, trailing zeros trimmed down to 3."""
    digits = digits[:9].rstrip("0")
    return digits if len(digits) >= 3 else digits.ljust(3, "0")


def _text(moment: datetime, digits: str) -> str:
    return f"{moment.isoformat(' ', 'seconds')}.{fraction(digits)}"


def _offset(zone: str) -> timedelta | None:
    """``Z``/``+hh:mm``/``+hhmm``/``+hh`` -> offset; None when malformed."""
    if zone in ("Z", "z", ""):
        return timedelta(0)
    sign = zone[0]
    body = zone[1:].replace(":", "")
    if sign not in "+-" or len(body) not in (2, 4) or not body.isdigit():
        return None
    hours, minutes = int(body[:2]), int(body[2:] or 0)
    if hours > 23 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return delta if sign == "+" else -delta


_DAY_MEMO_LIMIT = 4096
_valid_days: dict[str, bool] = {}


def _valid_day(day: str) -> bool:
    """``YYYY-MM-DD`` names a real calendar day (remembered: logs repeat their dates)."""
    known = _valid_days.get(day)
    if known is None:
        stamp = day[0:4] + day[5:7] + day[8:10]
        known = day[4] == "-" and day[7] == "-" and stamp.isascii() and stamp.isdigit()
        if known:
            try:
                datetime(int(stamp[0:4]), int(stamp[4:6]), int(stamp[6:8]))
            except ValueError:
                known = False
        if len(_valid_days) >= _DAY_MEMO_LIMIT:
            _valid_days.clear()
        _valid_days[day] = known
    return known


def _fast_utc(text: str) -> str | None:
    """Panther text for the exact layout ``YYYY-MM-DDTHH:MM:SS[.f]Z`` (most logs), else None.

    None only means "not this layout": the caller then runs the general parser, so anything unusual
    (spaces, offsets, lower-case ``t``/``z``) keeps its general-path result.
    """
    size = len(text)
    if size < 20 or text[-1] != "Z" or text[10] != "T" or text[13] != ":" or text[16] != ":":
        return None
    if size == 20:
        digits = ""
    elif text[19] == "." and size > 21:
        digits = text[20:-1]
        if not (digits.isascii() and digits.isdigit()):
            return None
    else:
        return None
    clock = text[11:13] + text[14:16] + text[17:19]
    if not (clock.isascii() and clock.isdigit()) or clock[0:2] > "23" or clock[2] > "5" or clock[4] > "5":
        return None
    day = text[0:10]
    if not _valid_day(day):
        return None
    return f"{day} {text[11:19]}.{fraction(digits)}"


def parse_rfc3339(value: Any) -> str | None:
    """RFC 3339 / ISO-8601 date-time text -> Panther text, or None."""
    if value.__class__ is not str:
        return None
    found = _fast_utc(value)
    return found if found is not None else general_rfc3339(value)


def general_rfc3339(text: str) -> str | None:
    """Every RFC 3339 spelling :func:`parse_rfc3339` accepts (the reference its fast path must agree with)."""
    text = text.strip()
    if len(text) < 19 or text[4] != "-" or text[7] != "-" or text[10] not in "Tt " or text[13] != ":":
        return None
    if text[16] != ":":
        return None
    stamp = text[0:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:19]
    if not (stamp.isascii() and stamp.isdigit()):
        return None
    rest = text[19:]
    digits = ""
    if rest[:1] in (".", ","):
        end = 1
        while end < len(rest) and rest[end].isdigit() and rest[end].isascii():
            end += 1
        digits, rest = rest[1:end], rest[end:]
        if not digits:
            return None
    delta = _offset(rest)
    if delta is None:
        return None
    try:
        moment = datetime(int(stamp[0:4]), int(stamp[4:6]), int(stamp[6:8]), int(stamp[8:10]),
                          int(stamp[10:12]), int(stamp[12:14]))
        if not delta:  # already UTC: the text itself is the answer
            return f"{text[0:10]} {text[11:19]}.{fraction(digits)}"
        moment -= delta
    except (ValueError, OverflowError):
        return None
    return _text(moment, digits)


def _epoch_parser(scale: int) -> TimeParser:
    def parse(value: Any) -> str | None:
        kind = value.__class__
        if kind is int:
            text = str(value)
        elif kind is float:
            if value != value or value in (float("inf"), float("-inf")):
                return None
            text = repr(value)
            if "e" in text or "E" in text:
                text = f"{value:.9f}"
        elif kind is str:
            text = value.strip()
        else:
            return None
        whole, dot, part = text.partition(".")
        if not whole or not (whole.isascii() and whole.isdigit()) or (dot and not (part.isascii() and part.isdigit())):
            return None
        digits = whole + part
        point = len(whole) - scale
        if point <= 0:
            seconds, frac = "0", "0" * -point + digits
        else:
            seconds, frac = digits[:point], digits[point:]
        try:
            moment = _EPOCH + timedelta(seconds=int(seconds))
        except (OverflowError, ValueError):
            return None
        return _text(moment, frac)

    return parse


def _strptime_parser(pattern: str) -> TimeParser:
    def parse(value: Any) -> str | None:
        if value.__class__ is not str:
            return None
        try:
            moment = datetime.strptime(value.strip(), pattern)
        except ValueError:
            return None
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        return _text(moment, f"{moment.microsecond:06d}")

    return parse


def check_format(fmt: str) -> str | None:
    """None when ``fmt`` is usable, else why not (for schema validation)."""
    if fmt in NAMED_FORMATS:
        return None
    if "%" not in fmt:
        known = ", ".join(NAMED_FORMATS)
        return f"unknown timeFormat {fmt!r} (use one of {known} or a strftime pattern like '%Y-%m-%d')"
    try:
        datetime(2000, 1, 2, 3, 4, 5).strftime(fmt)
    except ValueError as exc:
        return f"bad strftime pattern {fmt!r}: {exc}"
    return None


def single_parser(fmt: str) -> TimeParser:
    """The parser for one format name or pattern (validated with :func:`check_format`)."""
    if fmt == "rfc3339":
        return parse_rfc3339
    if fmt in _EPOCH_SCALE:
        return _epoch_parser(_EPOCH_SCALE[fmt])
    return _strptime_parser(fmt)


_CACHE_LIMIT = 4096


def compile_time_parser(formats: tuple[str, ...]) -> TimeParser:
    """One parser trying each format in order; no format means rfc3339.

    Results for text values are cached (events of a batch share timestamps); the cache is bounded.
    """
    parsers = tuple(single_parser(fmt) for fmt in formats or ("rfc3339",))
    cache: dict[str, str | None] = {}

    def parse_any(value: Any) -> str | None:
        if value.__class__ is str:
            found = cache.get(value, value)
            if found is not value:
                return found
        found = None
        for parse in parsers:
            found = parse(value)
            if found is not None:
                break
        if value.__class__ is str:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[value] = found
        return found

    return parse_any
