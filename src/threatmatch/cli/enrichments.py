"""``threatmatch enrichments``: per provider, which log types are enriched and with which selectors."""

from __future__ import annotations

import difflib
import sqlite3

import click
from rich.table import Table
from rich.text import Text

from threatmatch.cli.context import echo_json, out, state
from threatmatch.enrich.config import EnrichmentConfig
from threatmatch.errors import NotFoundError
from threatmatch.logtypes import LogTypeRegistry


def _registry() -> LogTypeRegistry:

    return LogTypeRegistry.load(state().home)


def known_providers(conn: sqlite3.Connection) -> list[str]:
    """Names of stored lookup tables and configured providers."""
    names: set[str] = set()
    try:
        from threatmatch.storage.lookup_store import LookupStore

        names.update(info.name for info in LookupStore(conn).tables())
    except ImportError:
        pass
    try:
        from threatmatch.storage.providers_repo import ProviderRepo  # type: ignore[import-not-found,unused-ignore]
        from threatmatch.storage.secrets import SecretBox

        repo = ProviderRepo(conn, SecretBox.for_key_file(state().home.secret_key))
        names.update(provider.name for provider in repo.list())
    except Exception:  # noqa: BLE001 - providers not set up yet: only stored tables count
        pass
    return sorted(names)


def _check_provider(name: str, custom: bool) -> None:
    if custom:
        return
    known = known_providers(state().db)
    if name in known:
        return
    hint = difflib.get_close_matches(name, known, n=1)
    suggestion = f"; did you mean {hint[0]}?" if hint else ""
    listing = f" Known: {', '.join(known)}." if known else " No provider or lookup table exists yet."
    raise NotFoundError(f"no enrichment provider or lookup table named {name!r}{suggestion}{listing} "
                        "For a custom table loaded with `threatmatch enrich --table NAME=FILE`, add --custom.")


_custom_option = click.option("--custom", is_flag=True,
                              help="NAME is a custom table given to `enrich --table` (skip the name check).")


@click.group("enrichments")
def enrichments() -> None:
    """Which log types each enrichment provider enriches, and with which selectors.

    By default every provider enriches every log type, using the log type's p_any_* indicator
    fields as selectors. Settings are stored in the home's database.
    """


@enrichments.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_custom_option
def show(name: str, as_json: bool, custom: bool) -> None:
    """Show the "Enriched Log Types" of provider NAME: log type, selectors, enabled."""
    _check_provider(name, custom)
    rows = EnrichmentConfig(state().db).show(name, _registry())
    if as_json:
        echo_json([{"log_type": r.log_type, "selectors": list(r.selectors), "enabled": r.enabled,
                    "customized": r.customized} for r in rows])
        return
    table = Table(title=Text(f"Enriched Log Types ({sum(r.enabled for r in rows)}) — {name}"), title_justify="left")
    table.add_column("Log Type")
    table.add_column("Selectors")
    table.add_column("Enabled")
    for row in rows:
        marker = " (custom)" if row.customized else ""
        table.add_row(Text(row.log_type), Text(", ".join(row.selectors) or "-"),
                      Text(("yes" if row.enabled else "no") + marker))
    out.print(table)


@enrichments.command("set-selectors")
@click.argument("name")
@click.argument("log_type", metavar="LOGTYPE")
@click.argument("selectors", nargs=-1, required=True, metavar="SELECTOR...")
@_custom_option
def set_selectors(name: str, log_type: str, selectors: tuple[str, ...], custom: bool) -> None:
    """Enrich LOGTYPE with provider NAME using SELECTORs.

    A selector is a JSON path ($.actor.id, $.request.ipChain[*].ip), a plain field name
    (sourceIPAddress) or an indicator field (p_any_ip_addresses). Each is checked against the
    log type's schema.
    """
    _check_provider(name, custom)
    kind = _registry().get(log_type)
    stored = EnrichmentConfig(state().db).set_selectors(name, kind, selectors)
    out.print(Text(f"{name} / {kind.name}: selectors {', '.join(stored)}"))


@enrichments.command("disable")
@click.argument("name")
@click.argument("log_type", metavar="LOGTYPE")
@_custom_option
def disable(name: str, log_type: str, custom: bool) -> None:
    """Stop enriching LOGTYPE with provider NAME."""
    _check_provider(name, custom)
    kind = _registry().get(log_type)
    EnrichmentConfig(state().db).disable(name, kind.name)
    out.print(Text(f"{name} / {kind.name}: disabled"))


@enrichments.command("enable")
@click.argument("name")
@click.argument("log_type", metavar="LOGTYPE")
@_custom_option
def enable(name: str, log_type: str, custom: bool) -> None:
    """Enrich LOGTYPE with provider NAME again (selectors unchanged)."""
    _check_provider(name, custom)
    kind = _registry().get(log_type)
    EnrichmentConfig(state().db).enable(name, kind.name)
    out.print(Text(f"{name} / {kind.name}: enabled"))


@enrichments.command("reset")
@click.argument("name")
@click.argument("log_type", metavar="[LOGTYPE]", required=False)
@_custom_option
def reset(name: str, log_type: str | None, custom: bool) -> None:
    """Back to defaults (enabled, p_any_* selectors) for LOGTYPE, or for every log type of NAME."""
    _check_provider(name, custom)
    target = _registry().get(log_type).name if log_type else None
    removed = EnrichmentConfig(state().db).reset(name, target)
    scope = target or "every log type"
    out.print(Text(f"{name} / {scope}: back to defaults ({removed} setting(s) removed)"))


COMMANDS: list[click.Command] = [enrichments]
