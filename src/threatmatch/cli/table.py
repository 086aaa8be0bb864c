"""``threatmatch table [NAME]``: view stored enrichment data (Panther's "view stored enrichment data")."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table
from rich.text import Text

from threatmatch.cli.context import echo_json, err, out, state

_COLUMNS = ("match", "type", "itype", "status", "confidence", "modified_ts", "expiration_ts", "source")


def _cell(row: dict[str, Any], column: str) -> Text:
    value = row.get(column)
    if column == "match" and isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return Text("" if value is None else str(value))  # Text: attacker-controlled values are never markup


def _list_tables(as_json: bool) -> None:
    from threatmatch.storage.lookup_store import LookupStore

    tables = LookupStore(state().db).tables()
    if as_json:
        for info in tables:
            echo_json(vars(info))
        return
    if not tables:
        err.print("no lookup tables yet; run `threatmatch sync` after adding a provider")
        return
    listing = Table("Name", "Kind", "Rows", "Generation", "Updated (UTC)")
    for info in tables:
        listing.add_row(*(Text(str(v)) for v in (info.name, info.kind, f"{info.row_count:,}",
                                                    info.generation or "-", info.updated_at or "never")))
    out.print(listing)


@click.command("table")
@click.argument("name", required=False)
@click.option("--match", "match", metavar="VALUE", help="Rows whose match equals VALUE (compared canonically).")
@click.option("--status", metavar="S", help="Only rows with this status (active, inactive, falsepos).")
@click.option("--type", "type_", metavar="T", help="Only this indicator type (ip, domain, url, email, md5...).")
@click.option("--itype", metavar="I", help="Only this itype (e.g. c2_ip).")
@click.option("--min-confidence", type=int, metavar="N", help="Only rows with confidence >= N.")
@click.option("--limit", type=click.IntRange(0, 100_000), default=20, show_default=True, help="Rows to show.")
@click.option("--offset", type=click.IntRange(0), default=0, help="Rows to skip.")
@click.option("--json", "as_json", is_flag=True, help="Full stored rows as JSON lines.")
def table(name: str | None, match: str | None, status: str | None, type_: str | None, itype: str | None,
          min_confidence: int | None, limit: int, offset: int, as_json: bool) -> None:
    """Show the rows stored in lookup table NAME (without NAME: list the tables)."""
    from threatmatch.storage.lookup_store import LookupStore

    if name is None:
        _list_tables(as_json)
        return
    store = LookupStore(state().db)
    filters: dict[str, Any] = {"match": match, "status": status, "type": type_, "itype": itype,
                               "min_confidence": min_confidence}
    rows = store.query(name, limit=limit, offset=offset, **filters)
    if as_json:
        for row in rows:
            echo_json(row)
        return
    info = store.info(name)
    total = store.count(name, **filters)
    err.print(Text(f"{name}: {info.row_count:,} rows (generation {info.generation}, updated {info.updated_at} UTC); "
                   f"{total:,} match the filters, showing {len(rows):,} from offset {offset}"))
    listing = Table(*_COLUMNS)
    for row in rows:
        listing.add_row(*(_cell(row, column) for column in _COLUMNS))
    out.print(listing)


COMMANDS: list[click.Command] = [table]
