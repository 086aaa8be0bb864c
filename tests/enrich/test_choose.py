"""Which row wins when several rows share one match value."""

from __future__ import annotations

from datetime import UTC, datetime

from threatmatch.enrich.choose import choose, is_active

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def row(**fields: object) -> dict[str, object]:
    return {"status": "active", "confidence": 50, "modified_ts": "2025-01-01T00:00:00Z", "id": 1, **fields}


def test_single_active_row_wins_over_higher_confidence_inactive() -> None:
    """Only one active row: it wins even when an inactive row is more confident."""
    rows = [row(status="inactive", confidence=99, id=1), row(confidence=10, id=2)]
    assert choose(rows, NOW) == 1


def test_highest_confidence_among_active_rows() -> None:
    """Several active rows: the most confident wins."""
    rows = [row(confidence=40, id=1), row(confidence="80", id=2), row(confidence=60, id=3)]
    assert choose(rows, NOW) == 1


def test_confidence_ties_go_to_newest_then_highest_id() -> None:
    """Equal confidence: newest modified_ts wins; equal time: highest id wins."""
    rows = [row(modified_ts="2025-02-01 00:00:00", id=9), row(modified_ts="2025-03-01T00:00:00.000Z", id=1)]
    assert choose(rows, NOW) == 1
    rows = [row(id="100"), row(id="99")]
    assert choose(rows, NOW) == 0


def test_expired_rows_are_not_active() -> None:
    """A row past its expiration_ts loses to an unexpired one, whatever its confidence."""
    rows = [row(confidence=90, expiration_ts="2025-06-01T00:00:00Z"), row(confidence=20, expiration_ts="2027-01-01")]
    assert not is_active(rows[0], NOW)
    assert choose(rows, NOW) == 1


def test_none_active_picks_highest_confidence() -> None:
    """With no active row, the most confident of all rows is returned (its status says inactive)."""
    rows = [row(status="falsepos", confidence=30), row(status="inactive", confidence=70)]
    assert choose(rows, NOW) == 1


def test_rows_without_status_count_as_active() -> None:
    """Custom-table rows (no status field) are active unless expired."""
    assert is_active({"ip": "1.2.3.4"}, NOW)
