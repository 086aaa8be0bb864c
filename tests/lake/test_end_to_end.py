"""Real CloudTrail records through the real parser, matcher and detections into the lake, then searched."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from tests.conftest import shared_path
from tests.lake.builders import store_table

from threatmatch.detect import AlertManager, builtin_rules_dir, load_rules, run_detections
from threatmatch.enrich.engine import Enricher
from threatmatch.enrich.index import TableIndex
from threatmatch.home import Home
from threatmatch.lake import Lake
from threatmatch.logtypes.registry import LogTypeRegistry
from threatmatch.logtypes.rowid import RowIdGenerator
from threatmatch.providers.threatstream.rows import build_row
from threatmatch.storage.db import connect
from threatmatch.storage.lookup_store import LookupStore
from threatmatch.timefmt import panther_ts

TABLE = "Anomali ThreatStream"
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _indicators() -> list[dict[str, Any]]:
    """Real ThreatStream API objects (Elastic fixture page) re-pointed at IPs seen in the CloudTrail sample."""
    page_file = shared_path("fixtures", "threatstream", "elastic_intelligence_update_id_page1.json")
    page = orjson.loads(page_file.read_bytes())
    template = page["objects"][0]
    wanted = [("203.0.113.50", "c2_ip", 90), ("192.0.2.0", "mal_ip", 55)]
    rows = []
    for n, (ip, itype, confidence) in enumerate(wanted):
        obj = {**template, "id": 900_000 + n, "update_id": 800_000 + n, "value": ip, "type": "ip", "itype": itype,
               "confidence": confidence, "status": "active"}
        rows.append(build_row(obj, parse_time=panther_ts(NOW), row_id=f"{n:032x}"))
    return rows


def _enriched_events(home: Home) -> list[dict[str, Any]]:
    lines = shared_path("realdata", "logs", "panther-analysis-tests", "AWS.CloudTrail.jsonl").read_bytes().splitlines()
    log_type = LogTypeRegistry.load(home).get("AWS.CloudTrail")
    normalize, row_id = log_type.compile_normalizer(), RowIdGenerator()
    events = [normalize(raw, panther_ts(NOW), row_id()) for _, raw, reason in log_type.parse(lines) if raw]
    conn = connect(home.database)
    store = LookupStore(conn)
    tables = {TABLE: TableIndex.build(store.iter_match_blobs(TABLE), name=TABLE, now=NOW)}
    conn.close()
    return Enricher(tables).enrich_batch(events, now=NOW)


def test_enriched_events_and_alerts_are_searchable(home_dir: Any) -> None:
    """Search returns the stored events with their p_enrichment, the alerts they raised, and the lookup rows."""
    home = Home(home_dir).ensure()
    store_table(home, TABLE, _indicators())
    events = _enriched_events(home)
    matched = [e for e in events if "p_enrichment" in e]
    assert matched, "the sample should match the two indicators"
    _, alerts = run_detections(events, (rules := load_rules([builtin_rules_dir()])), AlertManager(rules), NOW)
    assert alerts

    with Lake(home, buffer_rows=10_000) as lake:
        assert lake.write_events("AWS.CloudTrail", events) == len(events)
        assert lake.write_alerts(alerts) == len(alerts)

    lake = Lake(home)
    assert lake.search("SELECT count(*) FROM aws_cloudtrail").rows == [[len(events)]]
    found = lake.search(f"""
        SELECT p_row_id, p_enrichment FROM aws_cloudtrail
        WHERE json_exists(p_enrichment, '$."{TABLE}"') ORDER BY p_row_id""", limit=10_000)
    by_id = {e["p_row_id"]: e for e in matched}
    assert sorted(r[0] for r in found.rows) == sorted(by_id)
    for row_id, enrichment in found.rows:
        assert enrichment == by_id[row_id]["p_enrichment"]
        assert {r["p_match"] for r in _rows(by_id[row_id])} <= {"203.0.113.50", "192.0.2.0"}

    c2 = lake.search("SELECT rule_id, severity, event_count, sample_events FROM alerts "
                     "WHERE rule_id = 'ThreatMatch.Anomali.C2Indicator'")
    [[_, severity, count, samples]] = c2.rows
    assert severity == "CRITICAL" and count == sum(
        1 for e in matched if any(r.get("itype") == "c2_ip" for r in _rows(e)))
    assert all(s["p_enrichment"][TABLE] for s in samples)

    joined = lake.search("""
        SELECT DISTINCT ip, l.itype FROM aws_cloudtrail e, unnest(e.p_any_ip_addresses) AS u(ip)
        JOIN (SELECT unnest(match) AS m, itype FROM anomali_threatstream) l ON l.m = ip ORDER BY ip""")
    assert joined.rows == [["192.0.2.0", "mal_ip"], ["203.0.113.50", "c2_ip"]]


def _rows(event: dict[str, Any]) -> list[dict[str, Any]]:
    found = event["p_enrichment"][TABLE].values()
    return [r for rs in found for r in (rs if isinstance(rs, list) else [rs])]
