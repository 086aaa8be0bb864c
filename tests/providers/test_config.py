"""Validation of a ThreatStream provider's settings: name, URL expansion, refresh period, query, credentials."""

from __future__ import annotations

import pytest

from threatmatch.errors import ConfigError, QuerySyntaxError
from threatmatch.providers.threatstream.config import base_url_for, make_config, normalize_base_url

GOOD = {"name": "anomali", "username": "analyst@example.com", "token": "k3y", "query": 'status="active"'}


class TestBaseUrl:
    @pytest.mark.parametrize(("subdomain", "url"), [
        ("api", "https://api.threatstream.com"),
        ("Acme", "https://acme.threatstream.com"),
        ("ts.example.com", "https://ts.example.com"),
        ("ts.example.com:8443", "https://ts.example.com:8443"),
        ("https://ts.example.com/api/", "https://ts.example.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ])
    def test_subdomain_expansion(self, subdomain: str, url: str) -> None:
        """A bare label gets .threatstream.com; a host name or URL is used as given."""
        assert base_url_for(subdomain) == url

    def test_base_url_strips_api_suffix_and_keeps_prefix(self) -> None:
        """A pasted endpoint URL is reduced to its base; a reverse-proxy prefix is kept."""
        assert normalize_base_url("https://x.example/proxy/api/v2/intelligence/") == "https://x.example/proxy"

    @pytest.mark.parametrize("bad", ["bad_label!", "-api"])
    def test_bad_subdomain_is_refused(self, bad: str) -> None:
        """Labels with invalid characters are refused with the standard value as a hint."""
        with pytest.raises(ConfigError, match="standard cloud value is 'api'"):
            base_url_for(bad)

    def test_url_with_credentials_is_refused_without_echoing_them(self) -> None:
        """A URL carrying user:password is refused and the password is not repeated."""
        with pytest.raises(ConfigError) as info:
            normalize_base_url("https://me:hunter2@ts.example.com")
        assert "hunter2" not in str(info.value)

    def test_base_url_overrides_subdomain(self) -> None:
        """--base-url wins over --subdomain."""
        config = make_config(**GOOD, subdomain="api", base_url="http://127.0.0.1:9999/")
        assert config.intelligence_url == "http://127.0.0.1:9999/api/v2/intelligence/"

    def test_neither_subdomain_nor_base_url_is_an_error(self) -> None:
        """Without a location the error names both options."""
        with pytest.raises(ConfigError, match="--subdomain .* or --base-url"):
            make_config(**GOOD)


class TestFields:
    def test_refresh_below_60_is_refused(self) -> None:
        """The refresh period is at least 60 minutes, with the reason in the message."""
        with pytest.raises(ConfigError, match="at least 60 minutes"):
            make_config(**GOOD, subdomain="api", refresh_minutes=59)
        assert make_config(**GOOD, subdomain="api").refresh_minutes == 60

    def test_query_error_points_at_the_position(self) -> None:
        """A bad query is refused locally with its position and a caret under it."""
        with pytest.raises(QuerySyntaxError) as info:
            make_config(**{**GOOD, "query": 'feed_id=42 and bogus="x"'}, subdomain="api")
        assert info.value.position == 15
        assert "invalid --query" in str(info.value) and "\n" + " " * 17 + "^" in str(info.value)

    @pytest.mark.parametrize("name", ["", " lead", "trail ", "a/b", "x" * 65, "semi;colon"])
    def test_bad_names_are_refused(self, name: str) -> None:
        """Provider names are 1-64 safe characters without edge spaces."""
        with pytest.raises(ConfigError, match="invalid provider name"):
            make_config(**{**GOOD, "name": name}, subdomain="api")

    @pytest.mark.parametrize(("field", "value"), [("username", "a:b"), ("username", ""), ("token", "two words"),
                                                  ("token", "")])
    def test_bad_credentials_are_refused(self, field: str, value: str) -> None:
        """Credentials that cannot form an `apikey user:key` header are refused."""
        with pytest.raises(ConfigError):
            make_config(**{**GOOD, field: value}, subdomain="api")

    def test_token_is_hidden_in_repr(self) -> None:
        """The config's repr and public view never contain the token."""
        config = make_config(**GOOD, subdomain="api")
        assert "k3y" not in repr(config) and "k3y" not in str(config.public())
        assert config.token.reveal() == "k3y"
