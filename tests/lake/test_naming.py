"""View names and partition paths."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threatmatch.errors import ConfigError
from threatmatch.lake.naming import HourKey, check_log_type, log_type_view, lookup_view, parse_hour_dir, snake


class TestSnake:
    @pytest.mark.parametrize(("name", "view"), [
        ("AWS.CloudTrail", "aws_cloudtrail"), ("Okta.SystemLog", "okta_systemlog"),
        ("Amazon.EKS.Audit", "amazon_eks_audit"), ("GSuite.Reports", "gsuite_reports"),
        ("Zeek.DNS", "zeek_dns"), ("Custom.my-app v2", "custom_my_app_v2"),
        ("1Password.ItemUsage", "t_1password_itemusage"),
    ])
    def test_log_type_views(self, name: str, view: str) -> None:
        """Log types become lower-snake views: lower-cased, non-alphanumeric runs become one underscore."""
        assert log_type_view(name) == view

    def test_reserved_names_get_a_suffix(self) -> None:
        """A log type that would shadow a built-in view gets a _log suffix."""
        assert log_type_view("Alerts") == "alerts_log"
        assert log_type_view("All.Events") == "all_events_log"

    @pytest.mark.parametrize(("table", "view"), [
        ("Anomali ThreatStream", "anomali_threatstream"), ("intel-prod", "anomali_intel_prod"),
        ("ThreatStream", "anomali_threatstream"),
    ])
    def test_lookup_views(self, table: str, view: str) -> None:
        """ThreatStream tables are anomali_<snake>, without doubling the prefix."""
        assert lookup_view(table) == view

    def test_other_lookup_kinds(self) -> None:
        """Tables of other kinds are lookup_<snake>."""
        assert lookup_view("Tor Exit Nodes", "csv") == "lookup_tor_exit_nodes"

    def test_nameless(self) -> None:
        """A name without letters or digits is refused with the reason."""
        with pytest.raises(ConfigError, match="no letters or digits"):
            snake("...")

    @given(st.text(min_size=1).filter(lambda s: re.search(r"[A-Za-z0-9]", s.lower()) is not None))
    def test_snake_is_a_plain_identifier_and_idempotent(self, name: str) -> None:
        """Any name with an ASCII letter or digit yields a plain SQL identifier that snake() leaves unchanged."""
        out = snake(name)
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", out)
        assert snake(out) == out


class TestPartitions:
    def test_hour_of_aware_time(self) -> None:
        """An aware time is filed under its UTC hour."""
        moment = datetime.fromisoformat("2024-03-01T01:30:00+02:00")
        assert HourKey.of(moment) == HourKey("2024-02-29", 23)
        assert HourKey.of(moment).relpath() == "dt=2024-02-29/hour=23"

    def test_hour_bounds(self) -> None:
        """A partition covers [start, start + 1h)."""
        key = HourKey("2024-01-15", 10)
        assert key.start == datetime(2024, 1, 15, 10, tzinfo=UTC)
        assert key.end == datetime(2024, 1, 15, 11, tzinfo=UTC)

    @pytest.mark.parametrize(("day", "hour", "ok"), [
        ("dt=2024-01-15", "hour=07", True), ("dt=2024-13-01", "hour=07", False), ("dt=2024-01-15", "hour=24", False),
        ("dt=2024-01-15", ".hour=07", False), ("x", "hour=01", False),
    ])
    def test_parse_hour_dir(self, day: str, hour: str, ok: bool) -> None:
        """Only our own dt=/hour= directory names are read as partitions."""
        assert (parse_hour_dir(day, hour) is not None) is ok

    @pytest.mark.parametrize("bad", ["", "../etc", "AWS/CloudTrail", ".hidden", "a" * 200, "x y"])
    def test_unsafe_log_type_names(self, bad: str) -> None:
        """A log type that is not a safe directory name is refused, saying which characters are allowed."""
        with pytest.raises(ConfigError, match="letters, digits"):
            check_log_type(bad)
