"""The embedded database applies every module's tables, whatever the import order."""

from __future__ import annotations

from pathlib import Path

from threatmatch.storage.db import connect, register_schema


def test_schema_registered_after_connect_reaches_open_connections(tmp_path: Path) -> None:
    """A module imported after a connection was opened still gets its tables on that connection."""
    conn = connect(tmp_path / "t.db")
    register_schema("late-owner-test", "CREATE TABLE IF NOT EXISTS late_owner_test (x INTEGER)")
    conn.execute("INSERT INTO late_owner_test VALUES (1)")
    assert conn.execute("SELECT x FROM late_owner_test").fetchall()[0][0] == 1


def test_schema_registered_before_connect_is_applied(tmp_path: Path) -> None:
    """A connection opened after registration has the registered tables."""
    register_schema("early-owner-test", "CREATE TABLE IF NOT EXISTS early_owner_test (y TEXT)")
    conn = connect(tmp_path / "u.db")
    assert conn.execute("SELECT count(*) FROM early_owner_test").fetchone()[0] == 0
