"""Real ThreatStream objects (XSOAR, Elastic and the saved API pages) normalise into correct rows."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from tests.conftest import DATA, shared_path

from threatmatch.indicators.normalize import canonical
from threatmatch.providers.threatstream.rows import build_row, encode_raw

PARSE_TIME = "2026-01-01 00:00:00.000"
GOLDEN = DATA / "threatstream" / "xsoar"
XSOAR_FILES = sorted(p.name.removesuffix(".rows.json") for p in GOLDEN.glob("*.rows.json"))
FIXTURE_PAGES = [
    "elastic_intelligence_update_id_page1.json",
    "elastic_intelligence_update_id_page2.json",
    "elastic_intelligence_update_id_page3.json",
    "xsoar_v3_domain.json",
    "xsoar_v3_file_sha256.json",
]

# Which p_any_* fields each of the 28 Elastic itype samples must produce (our expectation, by type).
EXPECTED_FIELDS: dict[str, set[str]] = {
    "apt_domain": {"p_any_domain_names"},
    "apt_email": {"p_any_emails"},
    "apt_ip": {"p_any_ip_addresses"},
    "apt_url": {"p_any_domain_names"},
    "bot_ip": {"p_any_ip_addresses"},
    "c2_domain": {"p_any_domain_names", "p_any_ip_addresses"},
    "c2_ip": {"p_any_ip_addresses"},
    "c2_url": {"p_any_ip_addresses"},
    "i2p_ip": {"p_any_ip_addresses"},
    "mal_domain": {"p_any_domain_names", "p_any_ip_addresses"},
    "mal_email": {"p_any_emails"},
    "mal_file_name": set(),
    "mal_ip": {"p_any_ip_addresses"},
    "mal_ipv6": {"p_any_ip_addresses"},
    "mal_md5": {"p_any_sha1_hashes"},
    "mal_ssdeep": set(),
    "mal_url": {"p_any_domain_names"},
    "parked_ip": {"p_any_ip_addresses"},
    "phish_email": {"p_any_emails"},
    "phish_ip": {"p_any_ip_addresses"},
    "phish_md5": {"p_any_md5_hashes"},
    "phish_url": {"p_any_domain_names", "p_any_ip_addresses"},
    "scan_ip": {"p_any_ip_addresses"},
    "spam_domain": {"p_any_domain_names", "p_any_ip_addresses"},
    "ssh_ip": {"p_any_ip_addresses"},
    "suspicious_domain": {"p_any_domain_names", "p_any_ip_addresses"},
    "tor_ip": {"p_any_ip_addresses"},
    "torrent_tracker_url": {"p_any_domain_names"},
}


class _Page(msgspec.Struct):
    objects: list[msgspec.Raw] = []


def _raw_objects(path: Path) -> list[bytes]:
    """Each object of a saved page (or a bare object file) as its exact bytes."""
    data = path.read_bytes()
    if b'"objects"' in data:
        return [bytes(raw) for raw in msgspec.json.decode(data, type=_Page).objects]
    return [data.strip()]


def _rows(path: Path) -> list[dict[str, Any]]:
    return [build_row(orjson.loads(raw), parse_time=PARSE_TIME, row_id=f"{i:032x}")
            for i, raw in enumerate(_raw_objects(path))]


def _elastic_samples() -> list[dict[str, Any]]:
    path = shared_path("realdata", "intel", "threatstream", "elastic-ti_anomali", "intelligence_itype_samples.jsonl")
    return [orjson.loads(line)["json"] for line in path.read_bytes().splitlines() if line.strip()]


class TestXsoarGolden:
    @pytest.mark.parametrize("name", XSOAR_FILES)
    def test_rows_match_golden_file(self, name: str) -> None:
        """Each XSOAR ThreatStream response normalises to its reviewed golden rows."""
        rows = _rows(shared_path("realdata", "intel", "threatstream", "xsoar", f"{name}.json"))
        golden = GOLDEN / f"{name}.rows.json"
        if os.environ.get("UPDATE_GOLDEN"):
            golden.write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
        assert rows == orjson.loads(golden.read_bytes())


class TestElasticItypes:
    def test_all_28_itypes_are_covered(self) -> None:
        """The Elastic samples hold one object per itype, 28 in all, and each has an expectation here."""
        itypes = sorted(obj["itype"] for obj in _elastic_samples())
        assert itypes == sorted(EXPECTED_FIELDS)

    @pytest.mark.parametrize("itype", sorted(EXPECTED_FIELDS))
    def test_itype_produces_expected_indicator_fields(self, itype: str) -> None:
        """Each itype sample yields a canonical match and exactly the p_any_* fields its type calls for."""
        obj = next(o for o in _elastic_samples() if o["itype"] == itype)
        row = build_row(obj, parse_time=PARSE_TIME, row_id="0" * 32)
        assert row["match"] == [canonical(obj["value"])]
        assert {k for k in row if k.startswith("p_any_")} == EXPECTED_FIELDS[itype]
        assert row["id"] == obj["id"] and isinstance(row["id"], int)
        for field in ("p_any_ip_addresses", "p_any_domain_names", "p_any_emails"):
            for value in row.get(field, []):
                assert value == canonical(value), (field, value)
        if obj.get("ip") and "p_any_ip_addresses" in row:
            assert canonical(obj["ip"]) in row["p_any_ip_addresses"]
        assert {k: row[k] for k in obj} == obj, "every API field is kept as returned"

    def test_fast_path_agrees_on_every_sample(self) -> None:
        """encode_raw produces the same row as build_row for all 28 samples."""
        for obj in _elastic_samples():
            raw = orjson.dumps(obj)
            assert orjson.loads(encode_raw(raw, parse_time=PARSE_TIME, row_id="1" * 32).row) == build_row(
                obj, parse_time=PARSE_TIME, row_id="1" * 32)


class TestSavedPages:
    @pytest.mark.parametrize("name", FIXTURE_PAGES)
    def test_every_object_of_a_saved_page_normalises(self, name: str) -> None:
        """All objects of the saved API pages become rows, byte-exact fast path included."""
        path = shared_path("fixtures", "threatstream", name)
        raws = _raw_objects(path)
        assert raws
        for raw in raws:
            obj = orjson.loads(raw)
            expected = build_row(obj, parse_time=PARSE_TIME, row_id="2" * 32)
            stored = encode_raw(raw, parse_time=PARSE_TIME, row_id="2" * 32)
            assert orjson.loads(stored.row) == expected
            assert stored.match == expected["match"] and stored.id == obj["id"]
            assert stored.status == obj["status"] and stored.update_id == obj["update_id"]

    def test_inactive_and_expired_objects_are_kept(self) -> None:
        """The deactivated and expired objects of page 3 stay rows with their status, for the matcher to judge."""
        rows = _rows(shared_path("fixtures", "threatstream", "elastic_intelligence_update_id_page3.json"))
        assert [r["status"] for r in rows] == ["inactive", "active", "inactive"]
        assert rows[0]["meta"]["detail2"].startswith("bifocals_deactivated_on_")
