"""Feed providers synced from a real HTTP server on loopback into the real store, then matched by the engine.

The feeds are the real files in ``../shared/realdata/intel/feeds`` (Spamhaus DROP, abuse.ch Feodo Tracker and
URLhaus, FireEye SUNBURST, Tor exits), published as a feed host would publish them.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.conftest import shared_path
from tests.providers.feed_server import FeedServer, feed_server
from tests.sync.helpers import FAST_RETRY

from threatmatch.enrich.config import EnrichmentConfig
from threatmatch.enrich.engine import Enricher
from threatmatch.enrich.tables import load_store_tables
from threatmatch.errors import SyncError
from threatmatch.home import Home
from threatmatch.logtypes import LogTypeRegistry
from threatmatch.providers.feed.config import make_feed_config
from threatmatch.storage.db import connect
from threatmatch.storage.lookup_store import LookupStore
from threatmatch.storage.providers_repo import ProviderRepo
from threatmatch.storage.secrets import SecretBox
from threatmatch.sync.job import sync_provider

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def feed_file(*parts: str) -> bytes:
    return shared_path("realdata", "intel", "feeds", *parts).read_bytes()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running


def add_feed(home_dir: Path, name: str, url: str, **settings: Any) -> Home:
    home = Home(home_dir).ensure()
    repo = ProviderRepo(connect(home.database), SecretBox.for_key_file(home.secret_key))
    repo.add(make_feed_config(name=name, url=url, **settings), replace=True)
    return home


def sync(home: Home, name: str) -> Any:
    return sync_provider(connect(home.database), home, name, retry=FAST_RETRY, now=NOW)


def test_spamhaus_drop_becomes_cidr_rows_that_match_contained_addresses(tmp_path: Path, server: FeedServer) -> None:
    """Every DROP line is a CIDR row; an event address inside one of the blocks is enriched with that row."""
    body = feed_file("spamhaus", "drop.txt")
    lines = [line for line in body.decode().splitlines() if line.strip() and not line.startswith(";")]
    home = add_feed(tmp_path / "home", "spamhaus_drop", server.publish("/drop.txt", body), itype="bot_ip")
    result = sync(home, "spamhaus_drop")
    assert result.fetched == len(lines) and result.rows == len(lines) and result.rejected == 0
    assert result.by_type == {"cidr": len(lines)} and result.by_status == {"active": len(lines)}
    store = LookupStore(connect(home.database))
    row = store.query("spamhaus_drop", match="1.10.16.0/20")[0]
    assert row["type"] == "cidr" and row["itype"] == "bot_ip" and row["source"] == "spamhaus_drop"
    assert row["feed_url"].endswith("/drop.txt") and row["p_log_type"] == "Feed.Indicator"
    assert row["p_event_time"] == "2026-12-01 12:00:00.000"
    conn = connect(home.database)
    enricher = Enricher(load_store_tables(conn), EnrichmentConfig(conn).settings(), LogTypeRegistry.load(home))
    [event] = enricher.enrich_batch([{"p_log_type": "AWS.VPCFlow", "p_any_ip_addresses": ["1.10.20.30", "8.8.8.8"]}],
                                    NOW)
    [found] = event["p_enrichment"]["spamhaus_drop"]["p_any_ip_addresses"]
    assert found["value"] == "1.10.16.0/20" and found["p_match"] == "1.10.20.30"


def test_feodo_csv_keeps_its_columns_and_matches_the_c2_address(tmp_path: Path, server: FeedServer) -> None:
    """The abuse.ch CSV (banner lines, quoted header) gives one row per C2 with its port and malware family."""
    url = server.publish("/ipblocklist.csv", feed_file("abuse.ch", "feodotracker_ipblocklist.csv"))
    home = add_feed(tmp_path / "home", "feodo", url, format="csv", column="dst_ip", itype="c2_ip", confidence=90)
    result = sync(home, "feodo")
    assert (result.fetched, result.rows, result.rejected) == (28, 28, 0)  # the file ends "# END 28 entries"
    row = LookupStore(connect(home.database)).query("feodo", match="192.9.135.73")[0]
    assert row["malware"] == "Pikabot" and row["dst_port"] == "1194" and row["c2_status"] == "online"
    assert row["confidence"] == 90 and row["p_any_ip_addresses"] == ["192.9.135.73"]


def test_urlhaus_jsonl_rows_carry_the_url_and_its_host(tmp_path: Path, server: FeedServer) -> None:
    """URLhaus records: the url is matched as written, its host goes to p_any_ip_addresses, `id` is kept aside."""
    url = server.publish("/urlhaus.json", feed_file("abuse.ch", "urlhaus_dump_sample.ndjson"))
    home = add_feed(tmp_path / "home", "urlhaus", url, format="jsonl", column="url")
    result = sync(home, "urlhaus")
    assert result.rows == 2 and result.by_type == {"url": 2}
    row = LookupStore(connect(home.database)).query("urlhaus", match="http://115.55.244.160:41619/Mozi.m")[0]
    assert row["orig_id"] == "2786904" and row["tags"] == ["elf", "Mozi"] and row["threat"] == "malware_download"
    assert row["p_any_ip_addresses"] == ["115.55.244.160"]


def test_rejected_lines_and_repeats_are_counted_not_lost(tmp_path: Path, server: FeedServer) -> None:
    """Lines that are no indicator are rejected with line number and reason; a repeated value is one row."""
    body = b"# demo feed\n203.0.113.9\nevil[.]example\n/shell.php\nAS64500\n203.0.113.9\nhxxp://bad.example/x\n"
    home = add_feed(tmp_path / "home", "mixed", server.publish("/mixed.txt", body))
    result = sync(home, "mixed")
    assert result.fetched == 6 == result.rows + result.duplicates + result.rejected
    assert (result.rows, result.duplicates, result.rejected) == (3, 1, 2)
    assert result.reject_samples == [
        "line 4: '/shell.php' is not an IP address, CIDR block, domain, URL, e-mail address or MD5/SHA-1/SHA-256/"
        "SHA-512 digest",
        "line 5: 'AS64500' is not an IP address, CIDR block, domain, URL, e-mail address or MD5/SHA-1/SHA-256/"
        "SHA-512 digest"]
    status = ProviderRepo(connect(home.database), SecretBox.for_key_file(home.secret_key)).status("mixed")
    assert status.counts["reject_samples"] == result.reject_samples  # kept for the provider page
    store = LookupStore(connect(home.database))
    assert store.query("mixed", match="evil.example")[0]["type"] == "domain"
    assert store.query("mixed", match="http://bad.example/x")[0]["p_any_domain_names"] == ["bad.example"]


def test_gzip_feed_is_read(tmp_path: Path, server: FeedServer) -> None:
    """A .gz feed served as bytes (no Content-Encoding) is decompressed."""
    body = feed_file("tor", "tor-exit-nodes.lst")
    count = len([line for line in body.splitlines() if line.strip()])
    home = add_feed(tmp_path / "home", "tor", server.publish("/tor.lst.gz", gzip.compress(body)), itype="tor_ip")
    assert sync(home, "tor").rows == count


def test_retries_then_succeeds_and_a_failure_keeps_the_table_in_use(tmp_path: Path, server: FeedServer) -> None:
    """429/5xx are retried; a feed that disappears (404) or truncates fails the sync and the previous rows stay."""
    url = server.publish("/hashes.csv", feed_file("fireeye-sunburst", "Indicator_Release_Hashes.csv"))
    home = add_feed(tmp_path / "home", "sunburst", url, format="csv", column="SHA256")
    server.fail("/hashes.csv", 503, 429)
    first = sync(home, "sunburst")
    assert first.rows > 0 and first.by_type == {"md5": first.rows}
    assert [path for path, _ in server.requests].count("/hashes.csv") == 3
    server.files.pop("/hashes.csv")
    with pytest.raises(SyncError, match=r"there is no feed at .*/hashes.csv \(HTTP 404\): check --url"):
        sync(home, "sunburst")
    store = LookupStore(connect(home.database))
    assert store.info("sunburst").row_count == first.rows and store.count("sunburst") == first.rows
    server.publish("/hashes.csv", feed_file("fireeye-sunburst", "Indicator_Release_Hashes.csv"))
    server.fail("/hashes.csv", *[500] * 5)
    with pytest.raises(SyncError, match=r"kept failing \(HTTP 500\) after every retry"):
        sync(home, "sunburst")
    assert store.count("sunburst") == first.rows
    status = ProviderRepo(connect(home.database), SecretBox.for_key_file(home.secret_key)).status("sunburst")
    assert status.row_count == first.rows and "HTTP 500" in (status.last_error or "")


def test_header_is_sent_and_a_wrong_one_is_refused_in_plain_words(tmp_path: Path, server: FeedServer) -> None:
    """A feed needing a key gets it in the configured header; 401 says what to fix; the key never shows."""
    url = server.publish("/keyed.txt", b"198.51.100.7\n")
    server.require_header("/keyed.txt", "Auth-Key", "k3y-v4lue-secret")
    home = add_feed(tmp_path / "home", "keyed", url, header_name="Auth-Key", header_value="k3y-v4lue-secret")
    assert sync(home, "keyed").rows == 1
    assert server.requests[-1][1]["Auth-Key"] == "k3y-v4lue-secret"
    home = add_feed(tmp_path / "home", "keyed", url, header_name="Auth-Key", header_value="bad-k3y-0000")
    with pytest.raises(SyncError) as failure:
        sync(home, "keyed")
    assert "refused the download (HTTP 401)" in str(failure.value) and "header Auth-Key" in str(failure.value)
    assert "bad-k3y-0000" not in str(failure.value)
    files = [path for path in home.database.parent.glob(home.database.name + "*") if path.is_file()]
    stored = b"".join(path.read_bytes() for path in files)
    assert b"k3y-v4lue-secret" not in stored and b"bad-k3y-0000" not in stored  # encrypted at rest


def test_truncated_download_is_retried(tmp_path: Path, server: FeedServer) -> None:
    """A connection closed half-way through the body is a network failure: the next attempt succeeds."""
    url = server.publish("/exits.lst", feed_file("tor", "tor-exit-nodes.lst"))
    server.truncate("/exits.lst")
    home = add_feed(tmp_path / "home", "exits", url)
    assert sync(home, "exits").rejected == 0
    assert [path for path, _ in server.requests].count("/exits.lst") == 2


def test_an_unchanged_feed_keeps_its_table_instead_of_rebuilding_it(tmp_path: Path, server: FeedServer) -> None:
    """A feed answering 304 to the ETag of the last download, or sending the same content, keeps the table in use
    (same generation, same rows); the success and the next run are still recorded. New content rebuilds it."""
    body = feed_file("spamhaus", "drop.txt")
    url = server.publish("/drop.txt", body)
    server.with_etag("/drop.txt")
    home = add_feed(tmp_path / "home", "drop", url)
    first = sync(home, "drop")
    assert not first.unchanged and first.source["etag"] and first.source["sha256"]
    second = sync(home, "drop")
    assert server.requests[-1][1]["If-None-Match"] == first.source["etag"]
    assert second.unchanged and second.generation == first.generation
    assert (second.rows, second.by_type, second.fetched) == (first.rows, first.by_type, first.fetched)
    store = LookupStore(connect(home.database))
    assert store.info("drop").generation == first.generation and store.count("drop") == first.rows
    status = ProviderRepo(connect(home.database), SecretBox.for_key_file(home.secret_key)).status("drop")
    assert status.last_error is None and status.running_since is None and status.row_count == first.rows

    server.etagged.clear()  # a host without validators: the same bytes are recognised by their hash
    third = sync(home, "drop")
    assert third.unchanged and "If-None-Match" in server.requests[-1][1]  # asked, but got a full 200
    server.publish("/drop.txt", body + b"203.0.113.0/24 ; SBL999999\n")
    fourth = sync(home, "drop")
    assert not fourth.unchanged and fourth.generation > first.generation and fourth.rows == first.rows + 1


def test_a_missing_table_is_rebuilt_whatever_the_feed_says(tmp_path: Path, server: FeedServer) -> None:
    """When the table in use is gone, the sync downloads unconditionally and builds it again."""
    url = server.publish("/tor.lst", feed_file("tor", "tor-exit-nodes.lst"))
    server.with_etag("/tor.lst")
    home = add_feed(tmp_path / "home", "tor", url)
    first = sync(home, "tor")
    LookupStore(connect(home.database)).drop("tor")
    again = sync(home, "tor")
    assert "If-None-Match" not in server.requests[-1][1]
    assert not again.unchanged and again.rows == first.rows


def test_changed_settings_rebuild_the_table_of_an_unchanged_feed(tmp_path: Path, server: FeedServer) -> None:
    """A new itype or confidence must reach the rows even when the feed itself did not change."""
    url = server.publish("/c2.txt", b"198.51.100.1\n198.51.100.2\n")
    server.with_etag("/c2.txt")
    home = add_feed(tmp_path / "home", "c2", url, itype="c2_ip")
    first = sync(home, "c2")
    home = add_feed(tmp_path / "home", "c2", url, itype="bot_ip", confidence=40)
    second = sync(home, "c2")
    assert not second.unchanged and second.generation > first.generation
    assert "If-None-Match" not in server.requests[-1][1]
    row = LookupStore(connect(home.database)).query("c2", match="198.51.100.1")[0]
    assert (row["itype"], row["confidence"]) == ("bot_ip", 40)
    assert sync(home, "c2").unchanged  # and from then on the new settings' table is kept


def test_stix_bundle_and_misp_event_feeds(tmp_path: Path, server: FeedServer) -> None:
    """A Unit 42 STIX bundle and an ESET MISP event, served over HTTP, become tables whose rows keep their context;
    every indicator or attribute is a row, a duplicate or a reject."""
    stix = shared_path("realdata", "intel", "stix", "unit42", "IcedID_Malware.json").read_bytes()
    misp = shared_path("realdata", "intel", "misp", "eset", "glupteba__glupteba.misp-event.json").read_bytes()
    home = add_feed(tmp_path / "home", "unit42", server.publish("/icedid.json", stix), format="stix")
    add_feed(tmp_path / "home", "eset", server.publish("/glupteba.json", misp), format="misp", confidence=70)
    first = sync(home, "unit42")
    assert first.fetched == first.rows + first.duplicates + first.rejected and first.rows > 150
    [(_, headers)] = [request for request in server.requests if request[0] == "/icedid.json"]
    assert headers["Accept"].startswith("application/taxii+json;version=2.1")  # what a TAXII 2.1 server answers
    assert any(sample.startswith("object ") and "not a value threatmatch matches" in sample
               for sample in first.reject_samples)
    store = LookupStore(connect(home.database))
    [row] = [r for r in store.iter_rows("unit42") if r["type"] == "ip"][:1]
    assert row["stix_id"].startswith("indicator--") and row["pattern"].startswith("[ipv4-addr:value")
    assert row["modified_ts"] and row["labels"] == ["malicious-activity"]
    second = sync(home, "eset")
    assert (second.rows + second.duplicates, second.rejected) == (324, 1)
    assert second.reject_samples == ["attribute 317: MISP type 'regkey' is not an indicator threatmatch matches"]
    domain = store.query("eset", match="burnandfire5.com")[0]
    assert domain["misp_type"] == "domain|ip" and domain["tags"] == ["Glupteba"] and domain["confidence"] == 70


def test_a_taxii_collection_is_read_page_after_page(tmp_path: Path, server: FeedServer) -> None:
    """A TAXII 2.1 objects endpoint answering in pages (`more` + `next`) is read to its end with the `next`
    token; a page that says more follow without a token fails the sync and keeps the table."""
    def page(values: list[str], more: bool, token: str | None = None) -> bytes:
        objects = [{"type": "indicator", "id": f"indicator--{v}", "pattern": f"[domain-name:value = '{v}']",
                    "pattern_type": "stix"} for v in values]
        return orjson.dumps({"more": more, **({"next": token} if token else {}), "objects": objects})

    base = "/taxii2/api1/collections/c1/objects/"
    url = server.publish(base, page(["a.example", "b.example"], True, "tok-2"))
    server.publish(base + "?next=tok-2", page(["c.example"], True, "tok 3/+"))
    server.publish(base + "?next=tok+3%2F%2B", page(["d.example"], False))
    server.with_etag(base)
    home = add_feed(tmp_path / "home", "taxii", url, format="stix", header_name="Authorization",
                    header_value="Basic dXNlcjpwYXNz")
    result = sync(home, "taxii")
    assert result.rows == 4 and result.by_type == {"domain": 4}
    asked = [(path, headers.get("Authorization")) for path, headers in server.requests if path.startswith(base)]
    assert asked == [(base, "Basic dXNlcjpwYXNz"), (base + "?next=tok-2", "Basic dXNlcjpwYXNz"),
                     (base + "?next=tok+3%2F%2B", "Basic dXNlcjpwYXNz")]
    assert "etag" not in result.source  # one page's validator says nothing of the others
    server.publish(base + "?next=tok-2", page(["c.example"], True))
    server.publish(base, page(["a.example", "b.example", "e.example"], True, "tok-2"))
    with pytest.raises(SyncError, match="says more objects follow but gives no \"next\" token"):
        sync(home, "taxii")
    assert LookupStore(connect(home.database)).count("taxii") == 4
