"""`threatmatch search` and `threatmatch store` from the command line."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from click.testing import CliRunner
from tests.lake.builders import PROVIDER, alert_for, cloudtrail

from threatmatch.cli.main import cli
from threatmatch.home import Home
from threatmatch.lake import Lake


def _run(home: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--home", str(home), *args], input=stdin, terminal_width=200)
    return result.exit_code, result.stdout, result.stderr


def _cells(table: str) -> str:
    """The table's text without box drawing, spaces and wrapping."""
    return re.sub(r"[\s\u2500-\u257f]", "", table)


def _fill(home: Path) -> datetime:
    now = datetime.now(UTC).replace(microsecond=0)
    event = cloudtrail(1, now, "203.0.113.50")
    event["userAgent"] = "[bold red]pwned[/bold red] [link=http://evil.example]x[/link]"
    with Lake(Home(home)) as lake:
        lake.write_events("AWS.CloudTrail", [event, cloudtrail(2, now - timedelta(days=45), "10.0.0.1")])
        lake.write_alerts([alert_for([event], now)])
    return now


def test_table_output_shows_markup_literally(home_dir: Path) -> None:
    """Rich markup inside event data is printed as-is, never interpreted."""
    _fill(home_dir)
    code, out, err = _run(home_dir, "search", "SELECT userAgent FROM aws_cloudtrail WHERE p_enrichment IS NOT NULL")
    assert code == 0, err
    assert "[boldred]pwned[/boldred][link=http://evil.example]x[/link]" in _cells(out)
    code, out, err = _run(home_dir, "search", "SELECT title FROM alerts")
    assert "C2trafficfrom[bold]203.0.113.50[/bold]" in _cells(out)
    assert "1 row(s)" in err


def test_json_lines(home_dir: Path) -> None:
    """--json prints one JSON object per row, p_enrichment as an object."""
    _fill(home_dir)
    code, out, _ = _run(home_dir, "search", "--json", "SELECT p_row_id, p_enrichment FROM aws_cloudtrail "
                                                      "ORDER BY p_event_time")
    assert code == 0
    rows = [orjson.loads(line) for line in out.splitlines()]
    assert [r["p_row_id"] for r in rows] == [f"{2:032x}", f"{1:032x}"]
    assert rows[0]["p_enrichment"] is None
    assert rows[1]["p_enrichment"][PROVIDER]["p_any_ip_addresses"][0]["p_match"] == "203.0.113.50"


def test_limit_is_reported(home_dir: Path) -> None:
    """When --limit cuts the result, stderr says more rows exist."""
    _fill(home_dir)
    code, out, err = _run(home_dir, "search", "--json", "--limit", "1", "SELECT * FROM aws_cloudtrail")
    assert code == 0 and len(out.splitlines()) == 1
    assert "more rows exist (raise --limit 1)" in err


def test_query_from_stdin(home_dir: Path) -> None:
    """'-' reads the query from stdin."""
    _fill(home_dir)
    code, out, _ = _run(home_dir, "search", "--json", "-", stdin="SELECT count(*) AS n FROM all_events\n")
    assert code == 0 and orjson.loads(out) == {"n": 2}


def test_views_listing(home_dir: Path) -> None:
    """--views lists every view and its columns."""
    _fill(home_dir)
    code, out, _ = _run(home_dir, "search", "--views", "--json")
    views = {orjson.loads(line)["view"]: orjson.loads(line)["columns"] for line in out.splitlines()}
    assert code == 0 and {"aws_cloudtrail", "alerts", "all_events"} <= set(views)
    assert {"name": "p_enrichment", "type": "JSON"} in views["aws_cloudtrail"]


def test_refused_query_is_a_clean_error(home_dir: Path) -> None:
    """A write statement fails with exit code 1 and the reason."""
    code, _, _ = _run(home_dir, "search", "DROP VIEW alerts")
    assert code == 1


def test_prune_and_stats(home_dir: Path) -> None:
    """store prune deletes the old partition and store stats shows what is left."""
    _fill(home_dir)
    code, out, _ = _run(home_dir, "store", "prune", "--older-than", "30d", "--json")
    assert code == 0
    pruned = orjson.loads(out)
    assert pruned["total"]["rows"] == 1 and pruned["datasets"]["AWS.CloudTrail"]["partitions"] == 1
    code, out, _ = _run(home_dir, "store", "stats", "--json")
    stats = {orjson.loads(line)["dataset"]: orjson.loads(line) for line in out.splitlines()}
    assert code == 0 and stats["AWS.CloudTrail"]["rows"] == 1 and stats["alerts"]["rows"] == 1
    code, out, _ = _run(home_dir, "store", "stats")
    assert code == 0 and "AWS.CloudTrail" in _cells(out)


def test_bad_duration(home_dir: Path) -> None:
    """A bad --older-than is a usage error that shows accepted forms."""
    code, out, err = _run(home_dir, "store", "prune", "--older-than", "30 days")
    assert code == 2 and "e.g. 30d, 12h, 90m" in (out + err)


def test_compact(home_dir: Path) -> None:
    """store compact merges the files of closed hours and says how many."""
    when = datetime.now(UTC) - timedelta(days=2)
    with Lake(Home(home_dir)) as lake:
        for n in range(4):
            lake.write_events("AWS.CloudTrail", [cloudtrail(n, when, "10.0.0.1")])
    code, out, _ = _run(home_dir, "store", "compact", "--json")
    assert code == 0 and orjson.loads(out)["files_before"] == 4 and orjson.loads(out)["files_after"] == 1
    code, out, _ = _run(home_dir, "store", "compact")
    assert code == 0 and "merged 0 partition(s)" in out


def test_indicator_search_finds_events_by_any_indicator_field(home_dir: Path) -> None:
    """--indicator: the events holding the values in any p_any_* field, enriched or not, newest first; --since and
    --log-type narrow it; a value is never SQL."""
    _fill(home_dir)
    code, out, err = _run(home_dir, "search", "--json", "--indicator", "10.0.0.1, ARN:AWS:IAM::123456789012:USER/USER1")
    assert code == 0, err
    rows = [orjson.loads(line) for line in out.splitlines()]
    assert [(r["p_row_id"], r["matches"]) for r in rows] == [(f"{1:032x}", 1), (f"{2:032x}", 0)]
    code, out, _ = _run(home_dir, "search", "--json", "--indicator", "10.0.0.1", "--since", "30d")
    assert code == 0 and out == ""  # that event is 45 days old
    code, out, _ = _run(home_dir, "search", "--json", "--indicator", "10.0.0.1", "--log-type", "Okta.SystemLog")
    assert code == 0 and out == ""
    code, out, _ = _run(home_dir, "search", "--json", "--indicator", "x') OR true --")
    assert code == 0 and out == ""
    code, _, err = _run(home_dir, "search", "SELECT 1", "--indicator", "10.0.0.1")
    assert code == 2 and "either SQL or --indicator" in err
    code, _, err = _run(home_dir, "search", "SELECT 1", "--since", "7d")
    assert code == 2 and "--since and --log-type go with --indicator" in err
