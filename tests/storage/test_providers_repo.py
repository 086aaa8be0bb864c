"""Stored providers: encrypted tokens, replace semantics, status recording."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from threatmatch.errors import ConfigError, NotFoundError, SecretError
from threatmatch.providers.threatstream.config import make_config
from threatmatch.storage.db import connect
from threatmatch.storage.providers_repo import ProviderRepo
from threatmatch.storage.secrets import SecretBox

TOKEN = "very-secret-token-123"


def config(name: str = "anomali", **overrides: object) -> object:
    fields = {"name": name, "username": "analyst@example.com", "token": TOKEN, "query": 'status="active"',
              "subdomain": "api", **overrides}
    return make_config(**fields)  # type: ignore[arg-type]


@pytest.fixture
def repo(tmp_path: Path) -> ProviderRepo:
    return ProviderRepo(connect(tmp_path / "tm.db"), SecretBox.for_key_file(tmp_path / "secret.key"))


class TestProviders:
    def test_round_trip_with_token_encrypted_at_rest(self, repo: ProviderRepo, tmp_path: Path) -> None:
        """A stored provider reads back equal, and the database file never holds the token in clear."""
        repo.add(config())  # type: ignore[arg-type]
        got = repo.get("anomali")
        assert got.token.reveal() == TOKEN and got.base_url == "https://api.threatstream.com"
        repo._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for path in tmp_path.glob("tm.db*"):
            assert TOKEN.encode() not in path.read_bytes()

    def test_duplicate_name_needs_replace(self, repo: ProviderRepo) -> None:
        """Adding an existing name fails unless replace=True, which updates it."""
        repo.add(config())  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="--replace"):
            repo.add(config())  # type: ignore[arg-type]
        repo.add(config(refresh_minutes=120), replace=True)  # type: ignore[arg-type]
        assert repo.get("anomali").refresh_minutes == 120
        assert [s.refresh_minutes for s in repo.schedules()] == [120]

    def test_unknown_provider_suggests_a_close_name(self, repo: ProviderRepo) -> None:
        """A misspelt provider name gets a did-you-mean."""
        repo.add(config())  # type: ignore[arg-type]
        with pytest.raises(NotFoundError, match="did you mean 'anomali'"):
            repo.get("anomaly")

    def test_remove_forgets_provider_and_status(self, repo: ProviderRepo) -> None:
        """remove() deletes the provider; a second remove is a NotFoundError."""
        repo.add(config())  # type: ignore[arg-type]
        repo.remove("anomali")
        assert repo.names() == []
        with pytest.raises(NotFoundError):
            repo.remove("anomali")

    def test_wrong_key_is_a_clear_secret_error(self, repo: ProviderRepo, tmp_path: Path) -> None:
        """Reading with another key says the token must be re-entered."""
        repo.add(config())  # type: ignore[arg-type]
        other = ProviderRepo(repo._conn, SecretBox.for_key_file(tmp_path / "other.key"))
        with pytest.raises(SecretError, match="Re-enter the token"):
            other.get("anomali")


class TestStatus:
    def test_success_then_failure_keeps_last_success_and_counts(self, repo: ProviderRepo) -> None:
        """A failure after a success records the error but keeps the last success, its rows and counts."""
        repo.add(config())  # type: ignore[arg-type]
        t0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
        repo.record_start("anomali", t0)
        assert repo.status("anomali").running_since == "2026-01-01T10:00:00Z"
        repo.record_success("anomali", t0, duration_s=2.5, row_count=10,
                            counts={"type": {"ip": 10}, "status": {"active": 10}}, refresh_minutes=60)
        t1 = datetime(2026, 1, 1, 11, 0, tzinfo=UTC)
        repo.record_failure("anomali", t1, duration_s=1.0, error="HTTP 401", refresh_minutes=60)
        status = repo.status("anomali")
        assert status.last_success == "2026-01-01T10:00:02Z" and status.row_count == 10
        assert status.counts["type"] == {"ip": 10}
        assert (status.last_error, status.last_error_at) == ("HTTP 401", "2026-01-01T11:00:01Z")
        assert status.next_run == "2026-01-01T12:00:00Z" and status.running_since is None
