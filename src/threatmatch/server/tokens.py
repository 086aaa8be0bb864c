"""API tokens: random 32-byte secrets shown once; only their SHA-256 is stored.

A token looks like ``tm_<43 url-safe chars>``. Lookup is by digest (a unique index), and the stored digest is
compared again in constant time, so the plain token never needs to be kept anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from threatmatch.errors import ConfigError, NotFoundError
from threatmatch.storage.db import register_schema, transaction

PREFIX = "tm_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")

register_schema(
    "server.tokens",
    """CREATE TABLE IF NOT EXISTS api_tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        digest TEXT NOT NULL UNIQUE,
        hint TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_used_at TEXT,
        revoked_at TEXT
    )""",
)


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token: never the token itself."""

    id: int
    name: str
    hint: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def digest(token: str) -> str:
    """Hex SHA-256 of a token (what the database keeps)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _info(row: sqlite3.Row) -> TokenInfo:
    return TokenInfo(row["id"], row["name"], row["hint"], row["created_at"], row["last_used_at"], row["revoked_at"])


class TokenStore:
    """Create, verify, list and revoke API tokens in the embedded database."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def create(self, name: str) -> tuple[TokenInfo, str]:
        """A new token named ``name``; returns its info and the plain token (shown once, never stored)."""
        if not _NAME.match(name):
            raise ConfigError(f"token name {name!r} is invalid: use 1-64 letters, digits, '_', '.', '@' or '-', "
                              "starting with a letter or digit")
        token = PREFIX + secrets.token_urlsafe(32)
        with transaction(self._conn):
            old = self._conn.execute("SELECT revoked_at FROM api_tokens WHERE name = ?", (name,)).fetchone()
            if old is not None and old["revoked_at"] is not None:  # a revoked name may be reused
                self._conn.execute("DELETE FROM api_tokens WHERE name = ?", (name,))
            elif old is not None:
                raise ConfigError(f"a token named {name!r} already exists: choose another name, "
                                  f"or revoke it first with `threatmatch tokens revoke {name}`")
            self._conn.execute(
                "INSERT INTO api_tokens (name, digest, hint, created_at) VALUES (?, ?, ?, ?)",
                (name, digest(token), token[:7] + "…", _now()))
        return self.get(name), token

    def verify(self, token: str) -> TokenInfo | None:
        """The active token matching ``token``, or None. Records the time of use."""
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        wanted = digest(token)
        row = self._conn.execute("SELECT * FROM api_tokens WHERE digest = ?", (wanted,)).fetchone()
        if row is None or not hmac.compare_digest(row["digest"], wanted) or row["revoked_at"] is not None:
            return None
        now = _now()
        if (row["last_used_at"] or "")[:16] != now[:16]:  # at most one write per token per minute
            self._touch(row["id"], now)
        return _info(row)

    def _touch(self, token_id: int, now: str) -> None:
        """Record the time of use without ever waiting: a long write elsewhere (a sync) must not stall calls."""
        self._conn.execute("PRAGMA busy_timeout = 0")
        try:
            self._conn.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (now, token_id))
        except sqlite3.OperationalError:  # database busy: the next call records it
            pass
        finally:
            self._conn.execute("PRAGMA busy_timeout = 30000")

    def is_active(self, token_id: int) -> bool:
        """Whether the token with this id exists and is not revoked (checked on every console request)."""
        row = self._conn.execute("SELECT revoked_at FROM api_tokens WHERE id = ?", (token_id,)).fetchone()
        return row is not None and row["revoked_at"] is None

    def get(self, name: str) -> TokenInfo:
        row = self._conn.execute("SELECT * FROM api_tokens WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"no API token named {name!r}; list them with `threatmatch tokens list`")
        return _info(row)

    def list(self) -> list[TokenInfo]:
        rows = self._conn.execute("SELECT * FROM api_tokens ORDER BY name").fetchall()
        return [_info(r) for r in rows]

    def revoke(self, name: str) -> TokenInfo:
        """Revoke the token named ``name``: its API calls and console sessions stop working at once."""
        self.get(name)
        self._conn.execute("UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                           (_now(), name))
        return self.get(name)
