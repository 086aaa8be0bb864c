"""Retention: durations, which partitions expire, prune and stats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.lake.builders import alert_for, cloudtrail

from threatmatch.errors import ConfigError
from threatmatch.home import Home
from threatmatch.lake import Lake, parse_duration
from threatmatch.lake.naming import HourKey
from threatmatch.lake.retention import Partition, expired

NOW = datetime(2024, 3, 31, 12, 30, tzinfo=UTC)


class TestDuration:
    @pytest.mark.parametrize(("text", "delta"), [
        ("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("90m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)), (" 7D ", timedelta(days=7)),
    ])
    def test_accepted(self, text: str, delta: timedelta) -> None:
        """Whole numbers with w, d, h or m."""
        assert parse_duration(text) == delta

    @pytest.mark.parametrize("text", ["", "30", "d", "1.5d", "-3d", "0d", "30s", "30 days", "1y"])
    def test_refused_with_the_fix(self, text: str) -> None:
        """Anything else is refused, showing accepted examples."""
        with pytest.raises(ConfigError, match=r"e\.g\. 30d, 12h, 90m"):
            parse_duration(text)

    @given(st.integers(1, 10_000), st.sampled_from("wdhm"))
    def test_round_trip(self, number: int, unit: str) -> None:
        """N<unit> is N times the unit."""
        assert parse_duration(f"{number}{unit}") == number * parse_duration(f"1{unit}")


class TestExpired:
    def test_whole_hours_only(self) -> None:
        """A partition goes only when its whole hour ends at or before the cutoff."""
        cutoff = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
        parts = [Partition("X", HourKey("2024-03-01", h), Path(f"p{h}")) for h in (8, 9, 10)]
        assert [p.hour.hour for p in expired(parts, cutoff)] == [8, 9]
        assert [p.hour.hour for p in expired(parts, cutoff + timedelta(minutes=59))] == [8, 9]
        assert [p.hour.hour for p in expired(parts, cutoff + timedelta(hours=1))] == [8, 9, 10]

    @given(st.lists(st.tuples(st.dates(), st.integers(0, 23)), max_size=30), st.datetimes(timezones=st.just(UTC)))
    def test_nothing_newer_than_cutoff_is_selected(self, hours: list[tuple[object, int]], cutoff: datetime) -> None:
        """Every selected partition is entirely older than the cutoff; every kept one reaches past it."""
        parts = [Partition("X", HourKey(str(d), h), Path("p")) for d, h in hours]
        gone = expired(parts, cutoff)
        assert all(p.hour.end <= cutoff for p in gone)
        assert all(p.hour.end > cutoff for p in parts if p not in gone)


class TestPrune:
    def _fill(self, lake: Lake) -> None:
        old = [cloudtrail(i, NOW - timedelta(days=40, hours=i), "10.0.0.1") for i in range(3)]
        new = [cloudtrail(10 + i, NOW - timedelta(hours=i), "10.0.0.1") for i in range(2)]
        lake.write_events("AWS.CloudTrail", old + new)
        lake.write_alerts([alert_for(old, NOW - timedelta(days=40))])
        lake.write_alerts([alert_for(new, NOW)])

    def test_prune_deletes_old_partitions_and_counts(self, lake: Lake, home: Home) -> None:
        """Old hour partitions of events and alerts go; counts say how many partitions, files, rows, bytes."""
        self._fill(lake)
        result = lake.prune(timedelta(days=30), now=NOW)
        assert (result.total.partitions, result.total.files, result.total.rows) == (4, 4, 4)
        assert result.total.bytes > 0
        assert result.datasets["AWS.CloudTrail"].rows == 3 and result.datasets["alerts"].rows == 1
        assert lake.search("SELECT count(*) FROM aws_cloudtrail").rows == [[2]]
        assert lake.search("SELECT count(*) FROM alerts").rows == [[1]]
        old_day = (NOW - timedelta(days=40)).date().isoformat()
        assert not (home.lake / "events" / "log_type=AWS.CloudTrail" / f"dt={old_day}").exists()

    def test_rejected_lines_age_out_like_events(self, lake: Lake) -> None:
        """The `rejects` dataset is pruned by the same cutoff and shows in the counts under its own name."""
        stamp = "%Y-%m-%d %H:%M:%S.000"
        lake.write_rejects([{"log_type": "AWS.CloudTrail", "received_at": when.strftime(stamp), "line": n,
                             "reason": "invalid JSON", "raw": "{"}
                            for n, when in enumerate((NOW - timedelta(days=40), NOW - timedelta(hours=1)), 1)])
        result = lake.prune(timedelta(days=30), now=NOW)
        assert result.datasets["rejects"].rows == 1 and result.total.rows == 1
        assert lake.search("SELECT line FROM rejects").rows == [[2]]

    def test_dry_run_deletes_nothing(self, lake: Lake) -> None:
        """A dry run reports the same counts and keeps every file."""
        self._fill(lake)
        result = lake.prune(timedelta(days=30), now=NOW, dry_run=True)
        assert result.dry_run and result.total.rows == 4
        assert lake.search("SELECT count(*) FROM aws_cloudtrail").rows == [[5]]

    def test_prune_everything_leaves_a_searchable_lake(self, lake: Lake) -> None:
        """After every partition of a log type is gone, searches still work (the view just disappears)."""
        self._fill(lake)
        lake.prune(timedelta(minutes=1), now=NOW + timedelta(days=1))
        assert "aws_cloudtrail" not in lake.views()
        assert lake.search("SELECT count(*) FROM all_events").rows == [[0]]

    def test_foreign_files_are_left_alone(self, lake: Lake, home: Home) -> None:
        """Only our own dt=/hour= partitions and part files are touched."""
        self._fill(lake)
        stray = home.lake / "events" / "notes.txt"
        stray.write_text("keep me")
        lake.prune(timedelta(days=1), now=NOW + timedelta(days=400))
        assert stray.read_text() == "keep me"

    def test_retention_must_be_positive(self, lake: Lake) -> None:
        """A zero retention is refused."""
        with pytest.raises(ConfigError, match="positive"):
            lake.prune(timedelta(0), now=NOW)


def test_stats(lake: Lake) -> None:
    """Stats count partitions, files, rows and bytes per dataset, with the oldest and newest hour."""
    lake.write_events("AWS.CloudTrail", [cloudtrail(i, NOW - timedelta(hours=i), "10.0.0.1") for i in range(3)])
    lake.write_alerts([alert_for([cloudtrail(1, NOW, "203.0.113.50")], NOW)])
    lake.search("SELECT 1")  # exports the lookup table
    stats = lake.stats()
    trail = stats["AWS.CloudTrail"]
    assert (trail.partitions, trail.files, trail.rows) == (3, 3, 3)
    assert (trail.oldest, trail.newest) == ("2024-03-31 10:00", "2024-03-31 12:00")
    assert stats["alerts"].rows == 1 and stats["lookups"].rows == 3
