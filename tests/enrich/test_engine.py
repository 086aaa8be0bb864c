"""Enricher: the p_enrichment shape of Panther, several providers, config, swaps."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from threatmatch.enrich.config import EnrichmentSettings, Override
from threatmatch.enrich.engine import Enricher
from threatmatch.enrich.index import TableIndex
from threatmatch.enrich.live import LiveTable

NOW = datetime(2026, 1, 1, tzinfo=UTC)

INTEL = [
    {"match": ["55.44.33.22"], "value": "55.44.33.22", "itype": "mal_ip", "status": "active", "confidence": 80},
    {"match": ["evil.example.com"], "value": "evil.example.com", "itype": "mal_domain", "status": "active"},
]
CIDRS = [{"match": ["54.208.0.0/13"], "cidr": "54.208.0.0/13", "list": "amazon-aws"}]


def event(**fields: object) -> dict[str, object]:
    return {"p_log_type": "AWS.CloudTrail", **fields}


@pytest.fixture
def enricher() -> Enricher:
    return Enricher({"anomali": TableIndex.build(INTEL, name="anomali"),
                     "MISP Warning Lists": TableIndex.build(CIDRS, name="misp")})


def test_array_selector_gives_list_in_event_order_without_misses(enricher: Enricher) -> None:
    """p_any arrays yield a list of rows for matching elements only, in the event's order."""
    ev = event(p_any_ip_addresses=["1.1.1.1", "54.212.83.236", "55.44.33.22"])
    enricher.enrich_batch([ev], NOW)
    assert ev["p_enrichment"] == {
        "anomali": {"p_any_ip_addresses": [{**INTEL[0], "p_match": "55.44.33.22"}]},
        "MISP Warning Lists": {"p_any_ip_addresses": [{**CIDRS[0], "p_match": "54.212.83.236"}]},
    }


def test_no_match_means_no_key(enricher: Enricher) -> None:
    """An event with nothing matching gets no p_enrichment at all (no empty objects)."""
    ev = event(p_any_ip_addresses=["1.1.1.1"], p_any_domain_names=["good.example"])
    enricher.enrich_batch([ev], NOW)
    assert "p_enrichment" not in ev


def test_scalar_selector_gives_one_row_keyed_without_dollar_dot() -> None:
    """A configured JSON path selector reports one row under the path minus its leading $."""
    settings = EnrichmentSettings({("anomali", "AWS.CloudTrail"): Override(
        "anomali", "AWS.CloudTrail", True, ("$.sourceIPAddress", "$.tls.host", "$.missing.path"))})
    enricher = Enricher({"anomali": TableIndex.build(INTEL, name="anomali")}, settings)
    ev = event(sourceIPAddress="55.44.33.22", tls={"host": "EVIL.example.com"}, p_any_ip_addresses=["55.44.33.22"])
    enricher.enrich_batch([ev], NOW)
    assert ev["p_enrichment"] == {"anomali": {
        "sourceIPAddress": {**INTEL[0], "p_match": "55.44.33.22"},
        "tls.host": {**INTEL[1], "p_match": "EVIL.example.com"},
    }}


def test_disabled_provider_and_other_log_types() -> None:
    """Disabling a provider for one log type leaves the other log types enriched."""
    settings = EnrichmentSettings({("anomali", "AWS.CloudTrail"): Override("anomali", "AWS.CloudTrail", False, None)})
    enricher = Enricher({"anomali": TableIndex.build(INTEL, name="anomali")}, settings)
    trail = event(p_any_ip_addresses=["55.44.33.22"])
    okta = {"p_log_type": "Okta.SystemLog", "p_any_ip_addresses": ["55.44.33.22"]}
    enricher.enrich_batch([trail, okta], NOW)
    assert "p_enrichment" not in trail
    assert okta["p_enrichment"]["anomali"]["p_any_ip_addresses"][0]["p_match"] == "55.44.33.22"  # type: ignore[index]


def test_each_hit_is_an_independent_copy(enricher: Enricher) -> None:
    """Two events matching the same row get distinct row objects."""
    first, second = event(p_any_ip_addresses=["55.44.33.22"]), event(p_any_ip_addresses=["55.44.33.22"])
    enricher.enrich_batch([first, second], NOW)
    a = first["p_enrichment"]["anomali"]["p_any_ip_addresses"][0]  # type: ignore[index]
    b = second["p_enrichment"]["anomali"]["p_any_ip_addresses"][0]  # type: ignore[index]
    assert a == b and a is not b


def test_stale_enrichment_of_our_providers_is_replaced(enricher: Enricher) -> None:
    """Re-enriching drops an old result of our providers and keeps other tables' keys."""
    ev = event(p_any_ip_addresses=["1.1.1.1"],
               p_enrichment={"anomali": {"old": {}}, "tor_exit_nodes": {"ip": {"ip": "1.1.1.1"}}})
    enricher.enrich_batch([ev], NOW)
    assert ev["p_enrichment"] == {"tor_exit_nodes": {"ip": {"ip": "1.1.1.1"}}}


def test_integer_values_match_their_text() -> None:
    """Integer selector values (e.g. account ids parsed as numbers) match their decimal text."""
    enricher = Enricher({"accounts": TableIndex.build([{"match": ["123456789012"], "owner": "x"}], name="a")})
    ev = event(p_any_aws_account_ids=[123456789012, True, None])
    enricher.enrich_batch([ev], NOW)
    assert ev["p_enrichment"]["accounts"]["p_any_aws_account_ids"] == [  # type: ignore[index]
        {"match": ["123456789012"], "owner": "x", "p_match": 123456789012}]


def test_swap_is_seen_from_the_next_batch_and_never_blocks() -> None:
    """A table swapped by another thread during enrichment takes effect without pausing readers."""
    live = LiveTable(TableIndex.build([{"match": ["1.1.1.1"], "gen": 1}], name="t"))
    enricher = Enricher({"t": live})
    new = TableIndex.build([{"match": ["1.1.1.1"], "gen": 2}], name="t")
    seen: set[int] = set()

    def swap() -> None:
        live.swap(new)

    for i in range(200):
        if i == 100:
            thread = threading.Thread(target=swap)
            thread.start()
            thread.join()
        batch = [event(p_any_ip_addresses=["1.1.1.1"]) for _ in range(5)]
        enricher.enrich_batch(batch, NOW)
        gens = {ev["p_enrichment"]["t"]["p_any_ip_addresses"][0]["gen"] for ev in batch}  # type: ignore[index]
        assert len(gens) == 1  # one index per batch
        seen |= gens
    assert seen == {1, 2}
    assert live.generation == 2


def test_events_without_a_usable_log_type_use_every_indicator_field(enricher: Enricher) -> None:
    """A missing or malformed p_log_type falls back to every p_any_* field instead of failing."""
    odd = {"p_log_type": ["not", "a", "name"], "p_any_ip_addresses": ["55.44.33.22"]}
    bare = {"p_any_domain_names": ["EVIL.example.com"]}
    enricher.enrich_batch([odd, bare], NOW)
    assert odd["p_enrichment"]["anomali"]["p_any_ip_addresses"][0]["p_match"] == "55.44.33.22"  # type: ignore[index]
    assert bare["p_enrichment"]["anomali"]["p_any_domain_names"][0]["p_match"] == "EVIL.example.com"  # type: ignore[index]


def test_swap_with_grace_returns_the_previous_index_after_waiting() -> None:
    """swap(grace_s=...) makes the new index current at once and hands back the old one after the grace."""
    old = TableIndex.build([{"match": ["1.1.1.1"]}], name="t")
    live = LiveTable(old)
    new = TableIndex.build([{"match": ["2.2.2.2"]}], name="t")
    seen: list[TableIndex] = []
    thread = threading.Thread(target=lambda: seen.append(live.swap(new, grace_s=0.2)))
    thread.start()
    while live.current is old:
        pass
    assert not seen  # readers already see the new index while the builder still waits
    thread.join()
    assert seen == [old] and live.current is new
