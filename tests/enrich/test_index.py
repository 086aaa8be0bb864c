"""TableIndex: exact and CIDR matching over stored rows, fresh copies with p_match."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threatmatch.enrich import rowstore
from threatmatch.enrich.index import TableIndex

NOW = datetime(2026, 1, 1, tzinfo=UTC)

ROWS = [
    {"match": ["55.44.33.22"], "value": "55.44.33.22", "type": "ip", "status": "active", "confidence": 50, "id": 1},
    {"match": ["10.0.0.0/8"], "value": "10.0.0.0/8", "type": "cidr", "id": 2},
    {"match": ["10.1.0.0/16"], "value": "10.1.0.0/16", "type": "cidr", "id": 3},
    {"match": ["10.1.2.3"], "value": "10.1.2.3", "type": "ip", "id": 4},
    {"match": ["Evil.Example.COM"], "value": "Evil.Example.COM", "type": "domain", "id": 5},
    {"match": ["D41D8CD98F00B204E9800998ECF8427E"], "type": "md5", "id": 6},
    {"match": ["2001:DB8::1"], "type": "ipv6", "id": 7},
    {"match": ["2001:db8:ffff::/48"], "type": "cidr6", "id": 8},
    {"match": ["Phish@Example.com", "phish2@example.com"], "type": "email", "id": 9},
]


@pytest.fixture(scope="module")
def index() -> TableIndex:
    return TableIndex.build(ROWS, name="t", now=NOW)


def test_exact_ip_match_returns_row_with_p_match(index: TableIndex) -> None:
    """An exact IP hit returns the stored row plus p_match."""
    assert index.match("55.44.33.22", NOW) == {**ROWS[0], "p_match": "55.44.33.22"}


def test_values_compare_after_normalisation(index: TableIndex) -> None:
    """Domains, e-mails and hashes compare case-insensitively; IPv6 by address; p_match keeps the event text."""
    assert index.match("evil.example.com.", NOW)["id"] == 5  # type: ignore[index]
    assert index.match("d41d8cd98f00b204e9800998ecf8427e", NOW)["id"] == 6  # type: ignore[index]
    row = index.match("2001:0db8:0000::0001", NOW)
    assert row is not None and row["id"] == 7 and row["p_match"] == "2001:0db8:0000::0001"
    assert index.match("PHISH2@EXAMPLE.COM", NOW)["id"] == 9  # type: ignore[index]
    assert index.match("phish@example.com", NOW)["id"] == 9  # type: ignore[index]


def test_cidr_longest_prefix_and_exact_beats_cidr(index: TableIndex) -> None:
    """IPs inside CIDR rows match the longest prefix; an exact IP row beats every CIDR."""
    assert index.match("10.9.9.9", NOW)["id"] == 2  # type: ignore[index]
    assert index.match("10.1.9.9", NOW)["id"] == 3  # type: ignore[index]
    assert index.match("10.1.2.3", NOW)["id"] == 4  # type: ignore[index]
    assert index.match("2001:db8:ffff:1::5", NOW)["id"] == 8  # type: ignore[index]
    assert index.match("11.0.0.1", NOW) is None


def test_everything_else_compares_exactly(index: TableIndex) -> None:
    """Unrelated text does not match; a CIDR string matches its own row exactly."""
    assert index.match("evil", NOW) is None
    assert index.match("10.1.0.0/16", NOW)["id"] == 3  # type: ignore[index]


def test_rows_are_fresh_copies(index: TableIndex) -> None:
    """Mutating a returned row (even nested values) never changes the stored row."""
    first = index.match("phish@example.com", NOW)
    assert first is not None
    first["match"].append("tampered")
    first["id"] = -1
    again = index.match("phish@example.com", NOW)
    assert again == {**ROWS[8], "p_match": "phish@example.com"}


def test_shared_value_uses_choice_rule() -> None:
    """Several rows for one value: the active, most confident row is returned."""
    rows = [
        {"match": ["1.1.1.1"], "status": "active", "confidence": 40, "id": 1},
        {"match": ["1.1.1.1"], "status": "active", "confidence": 90, "id": 2},
        {"match": ["1.1.1.1"], "status": "inactive", "confidence": 100, "id": 3},
    ]
    index = TableIndex.build(rows, name="dups")
    assert index.stats.shared_keys == 2
    assert index.match("1.1.1.1", NOW)["id"] == 2  # type: ignore[index]


def test_build_from_match_blob_pairs() -> None:
    """(match_values, row bytes) pairs, as the lookup store yields them, build the same index."""
    pairs = [(row["match"], orjson.dumps(row)) for row in ROWS]
    index = TableIndex.build(pairs, name="pairs")
    assert index.match("10.1.9.9", NOW)["id"] == 3  # type: ignore[index]
    assert list(index.iter_rows()) == ROWS


def test_rows_without_usable_match_are_skipped() -> None:
    """Rows with no match value are counted as skipped, not indexed."""
    index = TableIndex.build([{"match": []}, {"other": 1}, {"match": [""]}, {"match": "8.8.8.8"}], name="odd")
    assert index.stats.skipped_rows == 3
    assert len(index) == 1
    assert index.match("8.8.8.8", NOW) is not None


def test_key_column_for_custom_tables() -> None:
    """A custom table can use another column (e.g. Tor's ``ip``) as its key."""
    index = TableIndex.build([{"ip": "185.220.101.1"}], name="tor_exit_nodes", key="ip")
    assert index.match("185.220.101.1", NOW) == {"ip": "185.220.101.1", "p_match": "185.220.101.1"}


def test_large_tables_spool_to_a_mapped_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the threshold, rows go to a memory-mapped file that is unlinked at once (nothing left behind)."""
    monkeypatch.setattr(rowstore, "SPOOL_THRESHOLD_BYTES", 200)
    rows = [{"match": [f"192.0.2.{i}"], "n": i, "pad": "x" * 50} for i in range(100)]
    index = TableIndex.build(rows, name="big", spool_dir=tmp_path)
    assert index.stats.spooled
    assert list(tmp_path.iterdir()) == []
    assert index.match("192.0.2.77", NOW)["n"] == 77  # type: ignore[index]
    assert list(index.iter_rows()) == rows


def test_memo_is_bounded(index: TableIndex) -> None:
    """The lookup memo never grows past its size."""
    small = TableIndex.build(ROWS, name="memo", memo_size=8)
    for i in range(100):
        small.lookup(f"host{i}.example")
    assert len(small._memo) <= 8


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4095), st.integers(20, 32)), max_size=25),
       st.lists(st.integers(0, 4095), max_size=10),
       st.lists(st.integers(0, 4095), min_size=1, max_size=40))
def test_index_matching_equals_brute_force(blocks: list[tuple[int, int]], hosts: list[int], probes: list[int]) -> None:
    """Through the whole index (text in, row out): exact IP rows first, else the longest containing block."""
    base = 0x0A000000  # 10.0.0.0: blocks and probes crowd into 10.0.0.0/20 so they overlap
    rows: list[dict[str, object]] = []
    for offset, prefix in blocks:
        network = ipaddress.ip_network(f"{ipaddress.ip_address(base + offset)}/{prefix}", strict=False)
        rows.append({"match": [str(network)], "id": f"net:{network}"})
    for offset in hosts:
        rows.append({"match": [str(ipaddress.ip_address(base + offset))], "id": f"host:{offset}"})
    index = TableIndex.build(rows, name="prop")
    for offset in probes:
        address = ipaddress.ip_address(base + offset)
        if offset in hosts:
            expected: str | None = f"host:{offset}"
        else:
            containing = [ipaddress.ip_network(r["match"][0]) for r in rows  # type: ignore[index]
                          if str(r["id"]).startswith("net:")]
            inside = [n for n in containing if address in n]
            expected = f"net:{max(inside, key=lambda n: n.prefixlen)}" if inside else None
        row = index.match(str(address), NOW)
        assert (row["id"] if row else None) == expected


def test_many_rows_in_memory_round_trip() -> None:
    """Rows kept in memory (joined in chunks while building) come back intact and in order."""
    rows = [{"match": [f"host{i}.example"], "i": i} for i in range(10_000)]
    index = TableIndex.build(rows, name="many")
    assert not index.stats.spooled
    assert list(index.iter_rows()) == rows
    assert index.match("HOST9999.example", NOW)["i"] == 9999  # type: ignore[index]


def test_spooled_rows_survive_every_spill_boundary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows pending before, at and after the switch to the spool file all come back intact."""
    monkeypatch.setattr(rowstore, "SPOOL_THRESHOLD_BYTES", 50_000)
    rows = [{"match": [f"192.0.{i // 250}.{i % 250}"], "n": i, "pad": "y" * 30} for i in range(9000)]
    index = TableIndex.build(rows, name="boundary", spool_dir=tmp_path)
    assert index.stats.spooled
    assert list(index.iter_rows()) == rows
