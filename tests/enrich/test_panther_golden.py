"""Golden shapes: rebuild the p_enrichment of Panther's own enriched test events and compare.

For each of the 69 panther-analysis test events carrying ``p_enrichment``, we build one table per
enrichment table named in the event from the event's own rows (``p_match`` stripped; CIDR rows keyed
by their ``cidr`` / ``route``), configure the selectors Panther's lookup-table definitions list for
the log type (``lookup_tables/*.yml``; MISP auto-maps ``p_any_ip_addresses``), enrich a copy of the
event without ``p_enrichment`` and compare.

Every event must land in exactly one category; the counts are pinned so drift is visible:

* ``exact``: our p_enrichment equals Panther's byte for byte (keys, list vs object, order, p_match);
* ``exact_without_p_match``: equal once ``p_match`` is ignored, because the fixture rows predate
  Panther's ``p_match`` (or were trimmed by hand);
* ``not_object``: the fixture is a hand-written mock (``"tor_exit_nodes": true`` or a bare list of
  IPs), not the Panther shape (table -> selector -> row);
* ``empty``: ``p_enrichment: {}``; Panther (and we) omit the key when nothing matched;
* ``value_keyed``: rows keyed by indicator value instead of selector (2026 synthetic fixtures that
  contradict Panther's docs, see spec section 1);
* ``inconsistent_fixture``: hand-edited events whose ``p_match`` is not the event's value at that
  selector, whose selector key is absent from the event, or whose CIDR route does not contain it.
"""

from __future__ import annotations

import copy
import ipaddress
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from tests.conftest import shared_path

from threatmatch.enrich.config import EnrichmentSettings, Override
from threatmatch.enrich.engine import Enricher
from threatmatch.enrich.index import TableIndex
from threatmatch.enrich.selectors import parse_selector
from threatmatch.enrich.tables import load_table_file
from threatmatch.indicators.normalize import normalize_domain, normalize_email, normalize_hash, normalize_ip

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LUT_FILES = {"tor_exit_nodes": "tor__tor_exit_nodes.yml", "ipinfo_asn": "ipinfo__ipinfo_asn.yml",
             "ipinfo_location": "ipinfo__ipinfo_location.yml", "ipinfo_privacy": "ipinfo__ipinfo_privacy.yml"}
EXPECTED = {"exact": 24, "exact_without_p_match": 11, "not_object": 11, "empty": 1, "value_keyed": 11,
            "inconsistent_fixture": 11}


def _luts(folder: Path) -> dict[str, dict[str, list[str]]]:
    found = {}
    for table, name in LUT_FILES.items():
        spec = yaml.safe_load((folder / name).read_text(encoding="utf-8"))
        found[table] = {entry["LogType"]: entry["Selectors"] for entry in spec["LogTypeMap"]["AssociatedLogTypes"]}
    return found


def _selector_for_key(key: str) -> str:
    return key if key.startswith("p_any_") else "$." + key


def _rows(value: Any) -> list[dict[str, Any]]:
    return value if isinstance(value, list) else [value]


def _table_key(table: str, row: dict[str, Any], fallback: Any) -> Any:
    if table == "MISP Warning Lists":
        return row.get("cidr")
    return row.get("route") or fallback


def _rebuild(event: dict[str, Any], log_type: str, luts: dict[str, dict[str, list[str]]]) -> Any:
    tables: dict[str, TableIndex] = {}
    overrides: dict[tuple[str, str], Override] = {}
    for table, by_key in event["p_enrichment"].items():
        pairs = []
        for key, value in by_key.items():
            at_selector = parse_selector(_selector_for_key(key)).getter()(event)
            for position, row in enumerate(_rows(value)):
                row = dict(row)
                matched = row.pop("p_match", None)
                if matched is None:  # pre-p_match fixture: the event's own value
                    matched = at_selector[position] if isinstance(at_selector, list) else at_selector
                match = _table_key(table, row, matched)
                if isinstance(match, str):
                    pairs.append(([match], orjson.dumps(row)))
        tables[table] = TableIndex.build(pairs, name=table)
        if table in luts and log_type in luts[table]:
            selectors = tuple(luts[table][log_type])
        elif table == "MISP Warning Lists":
            selectors = ("p_any_ip_addresses",)  # AssociatedLogTypes: [] -> auto-mapped indicator field
        else:
            selectors = tuple(_selector_for_key(key) for key in by_key)
        overrides[(table, log_type)] = Override(table, log_type, True, selectors)
    copy_ = copy.deepcopy(event)
    del copy_["p_enrichment"]
    copy_["p_log_type"] = log_type
    Enricher(tables, EnrichmentSettings(overrides)).enrich_batch([copy_], NOW)
    return copy_.get("p_enrichment")


def _without_p_match(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_p_match(v) for k, v in value.items() if k != "p_match"}
    if isinstance(value, list):
        return [_without_p_match(v) for v in value]
    return value


def _contains(route: str, value: Any) -> bool:
    try:
        return ipaddress.ip_address(str(value)) in ipaddress.ip_network(route, strict=False)
    except ValueError:
        return False


def _inconsistent(event: dict[str, Any]) -> bool:
    for by_key in event["p_enrichment"].values():
        for key, value in by_key.items():
            at_selector = parse_selector(_selector_for_key(key)).getter()(event)
            if at_selector is None:
                return True
            values = at_selector if isinstance(at_selector, list) else [at_selector]
            for row in _rows(value):
                if "p_match" in row and row["p_match"] not in values:
                    return True
                if "route" in row and not any(_contains(row["route"], v) for v in values):
                    return True
    return False


def _value_keyed(event: dict[str, Any]) -> bool:
    """Keys that are indicator values (an IP, e-mail, digest, or a domain that is no path in the event)."""
    for by_key in event["p_enrichment"].values():
        for key in by_key:
            if normalize_ip(key) or normalize_email(key) or normalize_hash(key):
                return True
            if normalize_domain(key) and parse_selector("$." + key).getter()(event) is None:
                return True
    return False


def categorise(event: dict[str, Any], log_type: str, luts: dict[str, dict[str, list[str]]]) -> str:
    expected = event.get("p_enrichment")
    if not isinstance(expected, dict) or any(not isinstance(v, dict) for v in expected.values()):
        return "not_object"
    if not expected:
        return "empty"
    if _value_keyed(event):
        return "value_keyed"
    got = _rebuild(event, log_type, luts)
    if got == expected:
        return "exact"
    if got is not None and _without_p_match(got) == _without_p_match(expected):
        return "exact_without_p_match"
    if _inconsistent(event):
        return "inconsistent_fixture"
    return "UNEXPLAINED"


def test_all_69_enriched_test_events_are_reproduced_or_explained() -> None:
    """Every enriched panther-analysis test event is rebuilt exactly or falls in an explained category."""
    folder = shared_path("realdata", "rules", "panther-analysis")
    luts = _luts(folder / "lookup_tables")
    counts: Counter[str] = Counter()
    unexplained = []
    for number, line in enumerate((folder / "p_enrichment_test_events.jsonl").read_text().splitlines(), 1):
        record = json.loads(line)
        event = record["log"]
        category = categorise(event, event.get("p_log_type") or record["log_type"], luts)
        counts[category] += 1
        if category == "UNEXPLAINED":
            unexplained.append((number, record["rule_id"], record["test_name"]))
    assert unexplained == []
    assert dict(counts) == EXPECTED
    assert sum(counts.values()) == 69


def test_fixture_files_reproduce() -> None:
    """The curated fixture files (19 current events, 3 legacy GreyNoise events) rebuild exactly or minus p_match."""
    luts = _luts(shared_path("realdata", "rules", "panther-analysis", "lookup_tables"))
    folder = shared_path("fixtures", "panther")
    counts: Counter[str] = Counter()
    for name in ("enriched_test_events.json", "enriched_test_events_greynoise_legacy.json"):
        for record in json.loads((folder / name).read_text()):
            event = record["log"]
            log_type = event.get("p_log_type") or _log_type_of(record["path"])
            counts[categorise(event, log_type, luts)] += 1
    assert counts["UNEXPLAINED"] == 0
    assert counts["exact"] + counts["exact_without_p_match"] >= 15


def _log_type_of(path: str) -> str:
    return "AWS.CloudTrail" if "cloudtrail" in path else "Okta.SystemLog"


def test_array_and_scalar_shapes_of_a_real_event() -> None:
    """The EKS event gets MISP (CIDR, p_any list) and ipinfo_asn (sourceIPs list) exactly as Panther shows."""
    folder = shared_path("realdata", "rules", "panther-analysis")
    luts = _luts(folder / "lookup_tables")
    line = (folder / "p_enrichment_test_events.jsonl").read_text().splitlines()[1]
    event = json.loads(line)["log"]
    got = _rebuild(event, "Amazon.EKS.Audit", luts)
    assert got == event["p_enrichment"]
    assert got["MISP Warning Lists"]["p_any_ip_addresses"][0]["cidr"] == "54.208.0.0/13"
    assert isinstance(got["ipinfo_asn"]["sourceIPs"], list)


@pytest.mark.parametrize(("address", "expected"), [("5.188.10.5", "5.188.10.0/23"), ("8.8.8.8", None)])
def test_spamhaus_drop_cidr_table(address: str, expected: str | None) -> None:
    """The real Spamhaus DROP list, loaded as a custom table, matches contained IPs by longest prefix."""
    index = load_table_file(shared_path("realdata", "intel", "feeds", "spamhaus", "drop.txt"), name="spamhaus_drop")
    assert index.stats.cidr_blocks > 900
    event = {"p_log_type": "AWS.CloudTrail", "p_any_ip_addresses": [address]}
    Enricher({"spamhaus_drop": index}).enrich_batch([event], NOW)
    if expected is None:
        assert "p_enrichment" not in event
    else:
        rows = event["p_enrichment"]["spamhaus_drop"]["p_any_ip_addresses"]  # type: ignore[index]
        assert rows == [{"match": [expected], "value": expected, "p_match": address}]
