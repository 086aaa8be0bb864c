"""API tokens: shown once, stored as a digest, revocable; the `threatmatch tokens` commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from threatmatch.cli.main import cli
from threatmatch.errors import ConfigError, NotFoundError
from threatmatch.server.tokens import TokenStore, digest
from threatmatch.storage.db import connect


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(connect(tmp_path / "db.sqlite"))


class TestTokenStore:
    def test_created_token_verifies(self, store: TokenStore) -> None:
        """A new token verifies and maps back to its name."""
        info, token = store.create("ci")
        assert token.startswith("tm_") and len(token) > 40
        verified = store.verify(token)
        assert verified is not None and verified.name == "ci" and verified.id == info.id

    def test_near_miss_does_not_verify(self, store: TokenStore) -> None:
        """A token differing in one character, or an empty one, does not verify."""
        _, token = store.create("ci")
        assert store.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert store.verify("") is None

    def test_hint_reveals_only_a_prefix(self, store: TokenStore) -> None:
        """The listed hint is 7 characters: enough to tell tokens apart, useless to an attacker."""
        info, token = store.create("ci")
        assert info.hint == token[:7] + "…"
        assert digest(token) not in repr(info)

    def test_duplicate_name_is_refused(self, store: TokenStore) -> None:
        """Two active tokens cannot share a name."""
        store.create("ci")
        with pytest.raises(ConfigError, match="already exists"):
            store.create("ci")

    def test_revoked_name_can_be_reused(self, store: TokenStore) -> None:
        """After revoking, the name is free again and the old token stays dead."""
        _, old = store.create("ci")
        store.revoke("ci")
        _, new = store.create("ci")
        assert store.verify(old) is None and store.verify(new) is not None

    @pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 65, "<script>"])
    def test_bad_names_are_refused(self, store: TokenStore, name: str) -> None:
        """Token names are short identifiers."""
        with pytest.raises(ConfigError, match="token name"):
            store.create(name)

    def test_revoking_an_unknown_token(self, store: TokenStore) -> None:
        """Revoking a name that does not exist says how to list the names."""
        with pytest.raises(NotFoundError, match="tokens list"):
            store.revoke("nope")


class TestTokensCommand:
    def test_create_prints_the_token_once_and_list_never(self, home_dir: Path) -> None:
        """`tokens create` prints the token; `tokens list` shows only its hint."""
        runner = CliRunner()
        created = runner.invoke(cli, ["tokens", "create", "alice"])
        assert created.exit_code == 0, created.output
        token = created.stdout.strip().splitlines()[-1]
        assert token.startswith("tm_")
        listed = runner.invoke(cli, ["tokens", "list", "--json"])
        assert listed.exit_code == 0
        assert "alice" in listed.stdout and token not in listed.stdout
        revoked = runner.invoke(cli, ["tokens", "revoke", "alice"])
        assert revoked.exit_code == 0
        assert '"revoked_at": null' not in runner.invoke(cli, ["tokens", "list", "--json"]).stdout
