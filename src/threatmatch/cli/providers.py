"""``threatmatch providers``: add, list, show, remove and test intel providers."""

from __future__ import annotations

import os
from typing import IO, Any

import click
from rich.table import Table
from rich.text import Text

from threatmatch.cli.context import echo_json, err, out, state
from threatmatch.errors import ConfigError, NotFoundError
from threatmatch.providers.feed.config import DEFAULT_CONFIDENCE, FORMATS, make_feed_config
from threatmatch.providers.threatstream.config import DEFAULT_REFRESH_MINUTES, make_config


def _repo() -> Any:
    from threatmatch.storage.providers_repo import ProviderRepo
    from threatmatch.storage.secrets import SecretBox

    current = state()
    return ProviderRepo(current.db, SecretBox.for_key_file(current.home.secret_key))


def _read_secret(secret_file: IO[str] | None, secret_env: str | None, *, what: str, option: str) -> str:
    """A secret from exactly one of a file (``-`` = stdin) or an environment variable, never the command line."""
    if (secret_file is None) == (secret_env is None):
        raise ConfigError(f"give the {what} with exactly one of {option}-file FILE (use - for stdin) or "
                          f"{option}-env VAR; it is never accepted on the command line itself")
    if secret_file is not None:
        secret = secret_file.read().strip()
        if not secret:
            raise ConfigError(f"the file {secret_file.name} is empty; put the {what} in it")
        return secret
    assert secret_env is not None
    secret = os.environ.get(secret_env, "").strip()
    if not secret:
        raise ConfigError(f"the environment variable {secret_env} is not set or empty; export the {what} in it, "
                          f"or use {option}-file")
    return secret


def _read_token(token_file: IO[str] | None, token_env: str | None) -> str:
    return _read_secret(token_file, token_env, what="ThreatStream API key", option="--api-token")


@click.group("providers")
def providers() -> None:
    """Configure intel providers (Anomali ThreatStream, indicator feeds), list them and test them."""


@providers.command("add-threatstream")
@click.argument("name")
@click.option("--subdomain", metavar="SUB",
              help="Anomali subdomain: SUB expands to https://SUB.threatstream.com ('api' is the standard cloud "
                   "value); a host name or URL is used as given.")
@click.option("--username", required=True, metavar="U", help="ThreatStream user name (usually your e-mail).")
@click.option("--api-token-file", type=click.File("r"), metavar="F", help="File holding the API token (- = stdin).")
@click.option("--api-token-env", metavar="VAR", help="Environment variable holding the API token.")
@click.option("--query", required=True, metavar="Q", help='ThreatStream indicator query, e.g. status="active".')
@click.option("--refresh-minutes", type=int, default=DEFAULT_REFRESH_MINUTES, show_default=True, metavar="M",
              help="Refresh period in minutes (at least 60).")
@click.option("--base-url", metavar="URL", help="Full API base URL (on-premises, emulator); overrides --subdomain.")
@click.option("--stability-lag", type=int, default=0, show_default=True, metavar="S",
              help="Leave out indicators modified in the last S seconds (modified_ts__lt=now-S); 0 = none.")
@click.option("--replace", is_flag=True, help="Update an existing provider of that name.")
def add_threatstream(name: str, subdomain: str | None, username: str, api_token_file: IO[str] | None,
                     api_token_env: str | None, query: str, refresh_minutes: int, base_url: str | None,
                     stability_lag: int, replace: bool) -> None:
    """Add an Anomali ThreatStream provider NAME (the fields of Panther's form).

    The token is stored encrypted and never printed. Then run `threatmatch providers test NAME`
    and `threatmatch sync NAME`.
    """
    token = _read_token(api_token_file, api_token_env)
    config = make_config(name=name, username=username, token=token, query=query, subdomain=subdomain,
                         base_url=base_url, refresh_minutes=refresh_minutes, stability_lag_seconds=stability_lag)
    _repo().add(config, replace=replace)
    out.print(Text(f"{'updated' if replace else 'added'} provider {name!r}: {config.intelligence_url} as "
                   f"{username}, refresh every {refresh_minutes} min. "
                   f"Next: `threatmatch providers test {name}` and `threatmatch sync {name}`."))


@providers.command("add-feed")
@click.argument("name")
@click.option("--url", required=True, metavar="URL", help="http(s) URL of the feed (gzip files are read too).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="lines", show_default=True,
              help="lines: one indicator per line (first word; # and ; comments); csv: a header line then rows; "
                   "jsonl: one JSON object per line; stix: a STIX 2 bundle; misp: MISP event JSON.")
@click.option("--column", metavar="C", help="csv/jsonl: the column or key holding the indicator (a.b = nested key).")
@click.option("--itype", metavar="T", help="itype given to every row (e.g. c2_ip, tor_ip, mal_domain).")
@click.option("--confidence", type=int, default=DEFAULT_CONFIDENCE, show_default=True, metavar="N",
              help="confidence (0-100) given to every row.")
@click.option("--refresh-minutes", type=int, default=DEFAULT_REFRESH_MINUTES, show_default=True, metavar="M",
              help="Refresh period in minutes (at least 15).")
@click.option("--header", "header_name", metavar="NAME", help="A request header the feed needs (e.g. Auth-Key).")
@click.option("--header-value-file", type=click.File("r"), metavar="F", help="File holding its value (- = stdin).")
@click.option("--header-value-env", metavar="VAR", help="Environment variable holding its value.")
@click.option("--replace", is_flag=True, help="Update an existing provider of that name.")
def add_feed(name: str, url: str, fmt: str, column: str | None, itype: str | None, confidence: int,
             refresh_minutes: int, header_name: str | None, header_value_file: IO[str] | None,
             header_value_env: str | None, replace: bool) -> None:
    """Add a feed provider NAME: a file of indicators at URL (Spamhaus DROP, abuse.ch, Tor exits, STIX, MISP...).

    IPs, CIDR blocks, domains, URLs, e-mail addresses and hashes are recognised (defanged values such as
    hxxp://evil[.]com too); other lines are counted as rejected. A header value is stored encrypted and never
    printed. Then run `threatmatch providers test NAME` and `threatmatch sync NAME`.
    """
    value = ""
    if header_name or header_value_file is not None or header_value_env is not None:
        if not header_name:
            raise ConfigError("--header-value-file/--header-value-env need --header NAME (e.g. --header Auth-Key)")
        value = _read_secret(header_value_file, header_value_env, what=f"value of header {header_name}",
                             option="--header-value")
    config = make_feed_config(name=name, url=url, format=fmt, column=column, itype=itype, confidence=confidence,
                              refresh_minutes=refresh_minutes, header_name=header_name, header_value=value)
    _repo().add(config, replace=replace)
    out.print(Text(f"{'updated' if replace else 'added'} feed provider {name!r}: {config.url} ({config.format}"
                   f"{f', column {config.column}' if config.column else ''}), refresh every {refresh_minutes} min. "
                   f"Next: `threatmatch providers test {name}` and `threatmatch sync {name}`."))


def _status_dict(repo: Any, name: str) -> dict[str, Any]:
    status: dict[str, Any] = repo.status(name).to_dict()
    status.pop("name", None)
    return status


@providers.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per provider (never the token).")
def list_providers(as_json: bool) -> None:
    """List providers with their last sync, row count and next run."""
    repo = _repo()
    names = repo.names()
    if as_json:
        for name in names:
            echo_json({**repo.public(name), "status": _status_dict(repo, name)})
        return
    if not names:
        err.print("no providers yet; add one with `threatmatch providers add-threatstream` or "
                  "`threatmatch providers add-feed`")
        return
    table = Table("Name", "Kind", "URL", "Username / format", "Query / column", "Refresh", "Rows", "Last success",
                  "Last error", "Next run")
    for name in names:
        settings, status = repo.public(name), repo.status(name)
        feed = settings.get("kind") == "feed"
        table.add_row(*(Text(str(v)) for v in (
            name, settings.get("kind", ""), settings["url"] if feed else settings["base_url"],
            settings["format"] if feed else settings["username"],
            (settings.get("column") or "") if feed else settings["query"],
            f"{settings['refresh_minutes']} min", "" if status.row_count is None else f"{status.row_count:,}",
            status.last_success or "never", (status.last_error or "")[:80], status.next_run or "now")))
    out.print(table)


@providers.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Settings and status as one JSON object.")
def show(name: str, as_json: bool) -> None:
    """Show one provider's settings (without the token) and its sync status."""
    repo = _repo()
    settings, status = repo.public(name), _status_dict(repo, name)
    if as_json:
        echo_json({**settings, "status": status})
        return
    lines = [f"{key}: {'' if value is None else value}" for key, value in settings.items()]
    if settings.get("kind") != "feed":
        lines.append("api_token: (stored encrypted, not shown)")
    elif settings.get("header_name"):
        lines.append("header_value: (stored encrypted, not shown)")
    counts = status.pop("counts") or {}
    lines += [f"{key}: {'' if value is None else value}" for key, value in status.items()]
    for group in ("type", "status"):
        if counts.get(group):
            lines.append(f"rows by {group}: " + ", ".join(f"{k} {v:,}" for k, v in counts[group].items()))
    for key in ("fetched", "duplicates", "rejected"):
        if key in counts:
            lines.append(f"last sync {key}: {counts[key]:,}")
    out.print(Text("\n".join(lines)))


@providers.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Remove provider NAME and its lookup table."""
    from threatmatch.storage.lookup_store import LookupStore

    _repo().remove(name)
    store = LookupStore(state().db)
    try:
        rows = store.info(name).row_count
        store.drop(name)
        out.print(Text(f"removed provider {name!r} and its lookup table ({rows:,} rows)"))
    except NotFoundError:
        out.print(Text(f"removed provider {name!r} (it had no lookup table)"))


@providers.command("test")
@click.argument("name")
@click.option("--timeout", type=float, default=15.0, show_default=True, help="Seconds to wait for the answer.")
def test(name: str, timeout: float) -> None:
    """Make one authenticated request for NAME (a feed: download and read it, storing nothing) and report
    success, refused credentials or a network error."""
    import httpx

    from threatmatch.providers.feed.config import FeedConfig
    from threatmatch.providers.feed.source import FeedSource
    from threatmatch.providers.retry import RetryPolicy
    from threatmatch.providers.threatstream.client import ThreatStreamClient

    config = _repo().get(name)
    if isinstance(config, FeedConfig):
        with httpx.Client() as http:
            found = FeedSource(config, http, retry=RetryPolicy(attempts=2, base_delay=1.0), timeout=timeout).check()
        out.print(Text(f"OK: {found.message}"))
        return
    with httpx.Client() as http:
        client = ThreatStreamClient(http, config, retry=RetryPolicy(attempts=2, base_delay=1.0), timeout=timeout)
        total = client.check()
    matches = "an unknown number of" if total is None else f"{total:,}"
    out.print(Text(f"OK: ThreatStream at {config.base_url} accepted user {config.username}; "
                   f"the query matches {matches} indicators."))


COMMANDS: list[click.Command] = [providers]
