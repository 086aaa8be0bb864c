"""Full syncs from the real emulator over loopback into the real SQLite store: volume, mutations, faults."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.sync.helpers import FAST_RETRY, add_provider

from threatmatch.emulator.testing import run_emulator
from threatmatch.errors import SyncError
from threatmatch.home import Home
from threatmatch.storage.db import connect
from threatmatch.storage.lookup_store import LookupStore
from threatmatch.storage.providers_repo import ProviderRepo
from threatmatch.storage.secrets import SecretBox
from threatmatch.sync.job import sync_provider


def sync(home: Home, name: str = "anomali", **kwargs: Any) -> Any:
    return sync_provider(connect(home.database), home, name, retry=FAST_RETRY, **kwargs)


def status(home: Home, name: str = "anomali") -> Any:
    return ProviderRepo(connect(home.database), SecretBox.for_key_file(home.secret_key)).status(name)


@pytest.fixture(scope="module")
def small() -> Iterator[Any]:
    with run_emulator(indicators=3000, seed=7) as handle:
        yield handle


@pytest.mark.slow
def test_full_sync_of_50000_indicators(tmp_path: Path) -> None:
    """50,000 indicators arrive in 1000-row keyset pages and all become rows, with progress reported."""
    seen: list[tuple[int, int | None]] = []
    with run_emulator(indicators=50_000, seed=3) as emulator:
        home = add_provider(tmp_path / "home", emulator)
        result = sync(home, progress=lambda fetched, total: seen.append((fetched, total)))
        requests = [r for r in emulator.requests() if "intelligence" in r["path"]]
    assert result.rows == result.fetched == 50_000 and result.rejected == 0 and result.duplicates == 0
    assert seen[-1] == (50_000, 50_000) and [f for f, _ in seen] == sorted(f for f, _ in seen)
    assert sum(result.by_type.values()) == 50_000
    store = LookupStore(connect(home.database))
    assert store.count("anomali") == 50_000
    assert len(requests) >= 50
    assert all(r["params"]["order_by"] == "update_id" and r["params"]["limit"] == "1000" for r in requests)
    assert "update_id__gt" not in requests[0]["params"] and "update_id__gt" in requests[1]["params"]
    first = store.query("anomali", limit=1)[0]
    assert first["p_log_type"] == "Anomali.Indicator" and len(first["p_row_id"]) == 32
    assert isinstance(first["id"], int) and first["match"]


def test_second_sync_reflects_mutations(tmp_path: Path) -> None:
    """After modify, deactivate, falsepos, expire and add, the next sync's table shows each change."""
    with run_emulator(indicators=2500, seed=11) as emulator:
        home = add_provider(tmp_path / "home", emulator)
        first = sync(home)
        rows = LookupStore(connect(home.database)).query("anomali", status="active", limit=4)
        ids = [r["id"] for r in rows]
        emulator.modify(ids[0], confidence=99)
        emulator.deactivate(ids[1])
        emulator.falsepos(ids[2])
        expired = emulator.expire(ids[3])
        added = emulator.add(value="203.0.113.77", type="ip", itype="c2_ip", status="active")
        reader = LookupStore(connect(home.database))
        second = sync(home)
    assert second.rows == first.rows + 1 and second.generation == first.generation + 1
    by_id = {r["id"]: r for r in reader.iter_rows("anomali")}
    assert by_id[ids[0]]["confidence"] == 99 and by_id[ids[0]]["update_id"] > rows[0]["update_id"]
    assert by_id[ids[1]]["status"] == "inactive"
    assert by_id[ids[2]]["status"] == "falsepos"
    assert by_id[ids[3]]["expiration_ts"] == expired["expiration_ts"] < "2030"
    assert reader.query("anomali", match="203.0.113.77")[0]["id"] == added["id"]


def test_active_only_query_drops_deactivated_rows(tmp_path: Path) -> None:
    """With Panther's usual status="active" query, a deactivated indicator leaves the table on the next sync."""
    with run_emulator(indicators=1500, seed=5) as emulator:
        home = add_provider(tmp_path / "home", emulator, query='status="active"')
        sync(home)
        store = LookupStore(connect(home.database))
        victim = store.query("anomali", limit=1)[0]
        emulator.deactivate(victim["id"])
        sync(home)
    assert store.query("anomali", match=victim["match"][0], status="active") == [] or all(
        r["id"] != victim["id"] for r in store.query("anomali", match=victim["match"][0]))
    assert {r for r in store.summary("anomali")["status"]} == {"active"}


class TestFaults:
    @pytest.mark.parametrize(("kind", "options"), [
        ("429", {"retry_after": 0.05}),
        ("429", {}),
        ("500", {}),
        ("502", {}),
        ("503", {}),
        ("truncate", {"mode": "short"}),
        ("truncate", {"mode": "json"}),
        ("drop", {}),
    ])
    def test_transient_fault_is_retried_and_sync_completes(self, small: Any, tmp_path: Path, kind: str,
                                                           options: dict[str, Any]) -> None:
        """A transient fault on a page is retried and the sync still stores every indicator."""
        home = add_provider(tmp_path / "home", small)
        small.clear_faults()
        small.fault(kind, count=2, **options)
        result = sync(home)
        assert result.rows == 3000 + 0 and result.fetched == 3000
        assert status(home).last_error is None

    def test_slow_page_times_out_then_succeeds(self, small: Any, tmp_path: Path) -> None:
        """A page slower than the client time-out is abandoned and fetched again."""
        home = add_provider(tmp_path / "home", small)
        small.clear_faults()
        small.fault("slow", count=1, delay=1.5)
        result = sync(home, timeout=0.5)
        assert result.rows == 3000 and result.network_wait_s >= 0.5

    def test_403_fails_fast_and_keeps_the_previous_table(self, small: Any, tmp_path: Path) -> None:
        """A 403 stops the sync at once; the table in use and its row count are unchanged; the error is recorded."""
        home = add_provider(tmp_path / "home", small)
        small.clear_faults()
        sync(home)
        before = list(LookupStore(connect(home.database)).iter_rows("anomali"))
        small.fault("403", count=1)
        with pytest.raises(SyncError, match=r"denied access .* previous table \(3,?000 rows"):
            sync(home)
        assert list(LookupStore(connect(home.database)).iter_rows("anomali")) == before
        recorded = status(home)
        assert "HTTP 403" in (recorded.last_error or "") and recorded.row_count == 3000
        assert recorded.last_success is not None

    def test_persistent_503_gives_up_with_plain_words(self, small: Any, tmp_path: Path) -> None:
        """A server failing on every attempt ends the sync with an UpstreamError after the retries."""
        home = add_provider(tmp_path / "home", small)
        small.clear_faults()
        small.fault("503", count=20)
        try:
            with pytest.raises(SyncError, match=r"kept failing .*\(HTTP 503\).* Body: 503 Service Unavailable"):
                sync(home)
        finally:
            small.clear_faults()
        assert LookupStore(connect(home.database)).info("anomali").generation is None

    def test_wrong_api_key_is_an_auth_error(self, small: Any, tmp_path: Path) -> None:
        """Wrong credentials fail on the first request with the user named and the key absent."""
        home = add_provider(tmp_path / "home", small, token="definitely-wrong-key")
        small.clear_faults()
        with pytest.raises(SyncError, match="refused the credentials for user") as info:
            sync(home)
        assert "definitely-wrong-key" not in str(info.value)
