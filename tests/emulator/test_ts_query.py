"""The ThreatStream ``q=`` grammar: parsing, precise errors, typed evaluation, and properties."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import shared_path

from threatmatch.errors import QuerySyntaxError
from threatmatch.providers.threatstream.query import (
    KNOWN_FIELDS,
    And,
    Comparison,
    Expr,
    Or,
    compile_predicate,
    format_query,
    parse_query,
)
from threatmatch.providers.threatstream.query_fields import FIELD_KINDS


def matches(q: str, obj: dict[str, Any]) -> bool:
    return compile_predicate(parse_query(q))(obj)


def error_of(q: str) -> QuerySyntaxError:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(q)
    return info.value


class TestParse:
    def test_panther_example(self) -> None:
        """Panther's documented query parses to an AND of two equalities."""
        assert parse_query('feed_id=42 and status="active"') == And(
            (Comparison("feed_id", "=", "42"), Comparison("status", "=", "active"))
        )

    def test_ui_example_with_nested_groups(self) -> None:
        """The public UI example (feed_name, nested or-groups, contains) parses with its structure."""
        q = (
            '(feed_name = "FeedName" and (itype = mal_domain or itype = phish_domain) '
            "and (value contains Value1 or value contains Value2))"
        )
        assert parse_query(q) == And(
            (
                Comparison("feed_name", "=", "FeedName"),
                Or((Comparison("itype", "=", "mal_domain"), Comparison("itype", "=", "phish_domain"))),
                Or((Comparison("value", "contains", "Value1"), Comparison("value", "contains", "Value2"))),
            )
        )

    def test_and_binds_tighter_than_or(self) -> None:
        """``a or b and c`` groups as ``a or (b and c)``."""
        assert parse_query("type=ip or type=domain and confidence>50") == Or(
            (
                Comparison("type", "=", "ip"),
                And((Comparison("type", "=", "domain"), Comparison("confidence", ">", "50"))),
            )
        )

    def test_keywords_ignore_case(self) -> None:
        """``AND``/``Or``/``CONTAINS`` work in any case."""
        assert parse_query("status=active AND value CONTAINS evil Or tlp=red") == Or(
            (
                And((Comparison("status", "=", "active"), Comparison("value", "contains", "evil"))),
                Comparison("tlp", "=", "red"),
            )
        )

    def test_every_operator(self) -> None:
        """All seven operators are recognised, with or without blanks around them."""
        for op in ("=", "!=", ">", ">=", "<", "<="):
            assert parse_query(f"confidence{op}5") == Comparison("confidence", op, "5")
            assert parse_query(f"confidence  {op}  5") == Comparison("confidence", op, "5")
        assert parse_query("value contains x") == Comparison("value", "contains", "x")

    def test_quoted_values_and_escapes(self) -> None:
        """Double- and single-quoted values keep blanks, and a backslash escapes the next character."""
        assert parse_query(r'value = "a \"b\" \\ c"') == Comparison("value", "=", 'a "b" \\ c')
        assert parse_query("description = 'two words'") == Comparison("description", "=", "two words")

    def test_bare_values_run_to_blank_or_paren(self) -> None:
        """A bare value may contain '=' and '/', and stops at a blank or a parenthesis."""
        assert parse_query("(value=http://x.test/?a=b)") == Comparison("value", "=", "http://x.test/?a=b")

    def test_null_literal(self) -> None:
        """Bare ``null`` means no value; quoted "null" is the text."""
        assert parse_query("tlp = null") == Comparison("tlp", "=", None)
        assert parse_query('tlp = "null"') == Comparison("tlp", "=", "null")

    def test_dotted_fields(self) -> None:
        """``meta.severity`` and ``tags.name`` are fields."""
        assert parse_query("meta.severity = high and tags.name = MalSpam") == And(
            (Comparison("meta.severity", "=", "high"), Comparison("tags.name", "=", "MalSpam"))
        )

    def test_positions_point_at_fields(self) -> None:
        """Each comparison remembers where its field starts."""
        expr = parse_query("status=active and  confidence>1")
        assert isinstance(expr, And)
        assert [c.position for c in expr.items if isinstance(c, Comparison)] == [0, 19]

    def test_known_fields_include_feed_name(self) -> None:
        """KNOWN_FIELDS covers the object fields and feed_name."""
        assert {"feed_name", "feed_id", "meta.severity", "tags.name", "modified_ts", "value"} <= KNOWN_FIELDS


class TestErrors:
    def test_unknown_field_suggests(self) -> None:
        """A misspelt field is named, a close field suggested, and the position is 0-based."""
        exc = error_of("feedid=42")
        assert exc.reason == "unknown field 'feedid' (did you mean 'feed_id'?)"
        assert exc.position == 0
        assert str(exc).startswith("unknown field 'feedid' (did you mean 'feed_id'?) at position 0")

    def test_unknown_field_later(self) -> None:
        """The position of an unknown field in the middle of a query is its first character."""
        exc = error_of('status="active" and severity=high')
        assert exc.position == 20
        assert "did you mean 'meta.severity'" in exc.reason

    @pytest.mark.parametrize(
        ("q", "reason", "position"),
        [
            ("", "the query is empty; write a condition such as status = active", 0),
            ("status", "expected an operator (=, !=, >, >=, <, <=, contains) after 'status', found "
                       "'the end of the query'", 6),
            ("status ~ x", "expected an operator (=, !=, >, >=, <, <=, contains) after 'status', found '~'", 7),
            ("status =", "expected a value after '='", 8),
            ('status = "act', "unterminated string: the \" opened here is never closed", 9),
            ("(status = active", "missing ')' to close the '(' at position 0", 16),
            ("status = active)", "expected 'and', 'or' or the end of the query, found ')'", 15),
            ("status = active type = ip", "expected 'and', 'or' or the end of the query, found 'type'", 16),
            ("status = active and", "the query ends where a condition was expected (field operator value)", 19),
            ("confidence > high", "invalid value for 'confidence': expected a number, found 'high'", 13),
            ("modified_ts > yesterday", "invalid value for 'modified_ts': 'yesterday' is not a timestamp; "
                                        "write 2024-01-31 or 2024-01-31T12:00:00Z", 14),
            ("is_public = maybe", "invalid value for 'is_public': expected true or false, found 'maybe'", 12),
            ("value > abc", "operator '>' compares numbers and timestamps, but 'value' is text", 0),
            ("confidence contains 5", "operator 'contains' needs a text field, but 'confidence' is a number", 0),
            ("tlp > null", "operator '>' compares numbers and timestamps, but 'tlp' is text", 0),
            ("confidence > null", "null can only be compared with = or !=, not '>'", 13),
            ("= 5", "expected a field name, found '='", 0),
        ],
    )
    def test_messages_and_positions(self, q: str, reason: str, position: int) -> None:
        """Each syntax problem has a precise message and points at the right character."""
        exc = error_of(q)
        assert (exc.reason, exc.position) == (reason, position)
        assert exc.query == q


REAL = {
    "id": 239450636, "type": "ip", "value": "78.78.78.67", "status": "inactive", "itype": "c2_ip",
    "confidence": 100, "feed_id": 0, "source": "Analyst", "modified_ts": "2021-08-22T16:50:01.032Z",
    "expiration_ts": "9999-12-31T00:00:00.000Z", "tlp": None, "asn": "", "is_public": True,
    "tags": [{"id": "f6g", "name": "test"}], "trusted_circle_ids": None,
    "meta": {"detail2": "bifocals_deactivated_on_2021-08-22_16:50:00.099447", "severity": "medium"},
}


class TestEvaluate:
    @pytest.mark.parametrize(
        ("q", "expected"),
        [
            ('status = "inactive"', True),
            ("status = INACTIVE", True),
            ("status != inactive", False),
            ("confidence >= 100 and confidence < 101", True),
            ("confidence > 100", False),
            ("id = 239450636", True),
            ("feed_id = 0 and feed_name = analyst", True),
            ("value contains 78.67", True),
            ("meta.severity = medium", True),
            ("meta.detail2 contains bifocals_deactivated", True),
            ("tags.name = TEST", True),
            ("tags = test", True),
            ("tags.name != test", False),
            ("modified_ts > 2021-08-22 and modified_ts < 2021-08-22T16:50:01.033Z", True),
            ("modified_ts > 2021-08-22T16:50:01.032Z", False),
            ("expiration_ts > 2999-01-01", True),
            ("tlp = null", True),
            ("tlp != null", False),
            ("asn = null", False),
            ("is_public = true", True),
            ("trusted_circle_ids = null", True),
            ("country = null", True),
            ("(type = ip or type = domain) and not_a_field_is_never_reached = 1", None),
        ],
    )
    def test_against_a_real_object(self, q: str, expected: bool | None) -> None:
        """Typed comparisons on a real ThreatStream object: numbers, times, text, tags, nulls."""
        if expected is None:
            with pytest.raises(QuerySyntaxError):
                parse_query(q)
            return
        assert matches(q, REAL) is expected

    def test_numbers_compare_numerically(self) -> None:
        """``confidence > 9`` is numeric (100 > 9), not text order."""
        assert matches("confidence > 9", {"confidence": 100})
        assert not matches("confidence > 9", {"confidence": None})

    def test_real_itype_samples(self) -> None:
        """Over the 28 real itype samples, a query selects exactly the objects its conditions describe."""
        folder = shared_path("realdata", "intel", "threatstream", "elastic-ti_anomali")
        path = folder / "intelligence_itype_samples.jsonl"
        objects = [json.loads(line)["json"] for line in path.read_text().splitlines() if line.strip()]
        picked = [o["value"] for o in objects if matches('status = active and (type = ip or type = md5)', o)]
        expected = [o["value"] for o in objects if o["status"] == "active" and o["type"] in ("ip", "md5")]
        assert picked == expected and len(picked) >= 3
        hashes = [o["subtype"] for o in objects if matches("itype contains _md5 and subtype = sha1", o)]
        assert hashes == ["SHA1"]


# ---- properties -------------------------------------------------------------------------------

_SAMPLE_VALUES = {"number": st.integers(-5, 10**12).map(str), "bool": st.sampled_from(["true", "false"]),
                  "time": st.sampled_from(["2024-01-31", "2021-08-22T16:50:01.032Z", "9999-12-31T00:00:00.000Z"]),
                  "text": st.text(max_size=12)}
_OPS = {"number": ["=", "!=", ">", ">=", "<", "<="], "time": ["=", "!=", ">", ">=", "<", "<="],
        "bool": ["=", "!="], "text": ["=", "!=", "contains"]}


@st.composite
def comparisons(draw: st.DrawFn) -> Comparison:
    name = draw(st.sampled_from(sorted(KNOWN_FIELDS)))
    kind = FIELD_KINDS[name]
    op = draw(st.sampled_from(_OPS[kind]))
    if op in ("=", "!=") and draw(st.integers(0, 9)) == 0:
        return Comparison(name, op, None)
    return Comparison(name, op, draw(_SAMPLE_VALUES[kind]))


expressions = st.recursive(
    comparisons(),
    lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda items: And(tuple(items))),
        st.lists(children, min_size=2, max_size=3).map(lambda items: Or(tuple(items))),
    ),
    max_leaves=8,
)


class TestProperties:
    @settings(max_examples=400)
    @given(st.text(max_size=60))
    def test_arbitrary_text_only_raises_query_syntax_error(self, text: str) -> None:
        """Any text either parses or raises QuerySyntaxError with a position inside the text."""
        try:
            parse_query(text)
        except QuerySyntaxError as exc:
            assert 0 <= exc.position <= len(text)

    @settings(max_examples=300)
    @given(st.lists(st.sampled_from(["status", "=", "!=", "contains", "and", "OR", "(", ")", '"', "x y", "5",
                                     " ", "confidence", ">=", "null", "\\", "'", "tags.name", "feedid"]),
                    max_size=12))
    def test_token_soup_only_raises_query_syntax_error(self, parts: list[str]) -> None:
        """Near-valid token sequences never escape as anything but QuerySyntaxError."""
        text = " ".join(parts)
        try:
            parse_query(text)
        except QuerySyntaxError as exc:
            assert 0 <= exc.position <= len(text)

    @settings(max_examples=300)
    @given(expressions)
    def test_format_then_parse_round_trips(self, expr: Expr) -> None:
        """Printing an expression and parsing the text gives the same expression back."""
        assert parse_query(format_query(expr)) == expr

    @settings(max_examples=200)
    @given(comparisons(), st.sampled_from([REAL, {}, {"tags": None, "meta": None}]))
    def test_not_equal_is_the_negation_of_equal(self, cmp: Comparison, obj: dict[str, Any]) -> None:
        """``f != v`` holds exactly when ``f = v`` does not."""
        if cmp.op not in ("=", "!="):
            return
        eq = compile_predicate(Comparison(cmp.field, "=", cmp.value))(obj)
        ne = compile_predicate(Comparison(cmp.field, "!=", cmp.value))(obj)
        assert eq is not ne
