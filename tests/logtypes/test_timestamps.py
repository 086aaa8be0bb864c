"""timeFormat parsing gives Panther's UTC text with the source's fraction digits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from threatmatch.logtypes.timestamps import check_format, compile_time_parser, fraction


def test_rfc3339_forms() -> None:
    """Z, offsets, space separator, no zone and nanoseconds all become UTC text."""
    parse = compile_time_parser(("rfc3339",))
    assert parse("2018-08-26T14:17:23Z") == "2018-08-26 14:17:23.000"
    assert parse("2018-08-26T14:17:23.186641Z") == "2018-08-26 14:17:23.186641"
    assert parse("2024-08-15T15:08:22.176160519Z") == "2024-08-15 15:08:22.176160519"
    assert parse("2003-08-24T05:14:15.000003-07:00") == "2003-08-24 12:14:15.000003"
    assert parse("2015-10-22T11:17:43.787396+0000") == "2015-10-22 11:17:43.787396"
    assert parse("2020-10-23 06:36:43.549") == "2020-10-23 06:36:43.549"
    assert parse("2020-13-01T00:00:00Z") is None
    assert parse("yesterday") is None


def test_epoch_formats() -> None:
    """unix, unix_ms and unix_ns accept numbers and digit strings."""
    assert compile_time_parser(("unix",))(1541001600.580233) == "2018-10-31 16:00:00.580233"
    assert compile_time_parser(("unix_ms",))("1590364197242") == "2020-05-24 23:49:57.242"
    assert compile_time_parser(("unix_ns",))(1600365600123456789) == "2020-09-17 18:00:00.123456789"
    assert compile_time_parser(("unix",))("12ab") is None


def test_strftime_and_fallback_order() -> None:
    """strftime patterns convert to UTC; formats are tried in order."""
    parse = compile_time_parser(("%d/%b/%Y:%H:%M:%S %z", "rfc3339"))
    assert parse("10/Oct/2000:13:55:36 -0700") == "2000-10-10 20:55:36.000"
    assert parse("2020-06-21 20:41:25.000000000") == "2020-06-21 20:41:25.000"


def test_fraction_rule() -> None:
    """At most 9 digits, trailing zeros trimmed, never fewer than 3."""
    assert fraction("") == "000"
    assert fraction("5") == "500"
    assert fraction("1234567891234") == "123456789"
    assert fraction("820360") == "82036"


def test_format_validation() -> None:
    """Unknown named formats are refused with the list of known ones."""
    assert check_format("rfc3339") is None
    assert "unknown timeFormat" in (check_format("iso") or "")


@given(st.one_of(st.text(max_size=40), st.integers(), st.floats(), st.none(), st.booleans()))
def test_parsers_never_raise(value: object) -> None:
    """Any value gives text or None, never an exception."""
    for formats in (("rfc3339",), ("unix",), ("unix_ms",), ("unix_ns",), ("%Y-%m-%d",)):
        result = compile_time_parser(formats)(value)
        assert result is None or (isinstance(result, str) and len(result) >= 23)


_DIGIT_OR_ODD = st.sampled_from("0123456789012345678901234567890123456789 -:T.Zz+٣")


@given(st.lists(_DIGIT_OR_ODD, min_size=4, max_size=4), st.lists(_DIGIT_OR_ODD, min_size=2, max_size=2),
       st.lists(_DIGIT_OR_ODD, min_size=2, max_size=2), st.lists(_DIGIT_OR_ODD, min_size=6, max_size=6),
       st.sampled_from(["", ".", ".1", ".123", ".000", ".176160519", ".1234567891234", ".x", ".٣"]),
       st.sampled_from(["Z", "z", "", "+00:00", " Z", "Z "]), st.sampled_from(["", " ", "\t"]))
def test_utc_fast_path_agrees_with_general_parser(year: list[str], month: list[str], day: list[str],
                                                  clock: list[str], frac: str, zone: str, pad: str) -> None:
    """The fixed-layout UTC fast path gives exactly the general RFC 3339 parser's answer (or defers to it)."""
    from threatmatch.logtypes.timestamps import _fast_utc, general_rfc3339, parse_rfc3339

    hh, mm, ss = "".join(clock[0:2]), "".join(clock[2:4]), "".join(clock[4:6])
    text = f"{pad}{''.join(year)}-{''.join(month)}-{''.join(day)}T{hh}:{mm}:{ss}{frac}{zone}"
    fast = _fast_utc(text)
    assert fast is None or fast == general_rfc3339(text)
    assert parse_rfc3339(text) == general_rfc3339(text)


def test_utc_fast_path_calendar() -> None:
    """The fast path checks the calendar and the clock as the general parser does."""
    parse = compile_time_parser(("rfc3339",))
    assert parse("2024-02-29T23:59:59.5Z") == "2024-02-29 23:59:59.500"
    assert parse("2023-02-29T00:00:00Z") is None
    assert parse("2023-04-31T00:00:00Z") is None
    assert parse("2023-04-30T24:00:00Z") is None
    assert parse("2023-04-30T23:60:00Z") is None
    assert parse("2023-04-30T23:00:60Z") is None
    assert parse("0000-01-01T00:00:00Z") is None
    assert parse(" 2023-04-30T23:00:00Z") == "2023-04-30 23:00:00.000"
