"""Loading tables into matchers: the home's lookup store, and custom tables from files.

Custom table files (``threatmatch enrich --table NAME=FILE``), optionally gzip-compressed:

* ``.jsonl`` / ``.ndjson`` / ``.json``: one JSON object per line (or one JSON array of objects);
* ``.csv``: a header line, then rows; every column kept as text;
* anything else (``.txt``, feeds such as Spamhaus DROP): one value per line, first word only;
  ``#`` / ``;`` comment lines skipped; text after `` ; `` kept as ``comment``. Rows become
  ``{"match": [value], "value": value}``.

For JSON and CSV the key column is ``match`` unless ``key`` names another (e.g. ``ip``, ``cidr``).
Rows without a key value are skipped and counted (``TableIndex.stats.skipped_rows``).
"""

from __future__ import annotations

import csv
import gzip
import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from threatmatch.enrich.index import TableIndex
from threatmatch.errors import ConfigError

GZIP_MAGIC = b"\x1f\x8b"


def open_maybe_gzip(path: Path) -> IO[bytes]:
    """Open ``path`` for binary reading, decompressing when it starts with the gzip magic bytes."""
    handle = open(path, "rb")  # noqa: SIM115 - returned to the caller
    if handle.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=handle, mode="rb")  # type: ignore[return-value]
    return handle


def parse_table_option(text: str) -> tuple[str, Path]:
    """``NAME=FILE`` -> (name, path); ConfigError when malformed or the file is missing."""
    name, sep, file = text.partition("=")
    if not sep or not name.strip() or not file.strip():
        raise ConfigError(f"--table {text!r}: expected NAME=FILE, e.g. --table spamhaus_drop=drop.txt")
    path = Path(file.strip()).expanduser()
    if not path.is_file():
        raise ConfigError(f"--table {text!r}: no such file {path}")
    return name.strip(), path


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def _json_rows(stream: IO[bytes], path: Path) -> Iterator[dict[str, Any]]:
    data = stream.read()
    if data.lstrip()[:1] == b"[":
        try:
            items = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise ConfigError(f"{path}: element {index} is not a JSON object")
            yield item
        return
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: not valid JSON ({exc}); fix or remove the line") from exc
        if not isinstance(item, dict):
            raise ConfigError(f"{path}:{number}: expected a JSON object per line")
        yield item


def _csv_rows(stream: IO[bytes], path: Path) -> Iterator[dict[str, Any]]:
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
    reader = csv.DictReader(text)
    if not reader.fieldnames:
        raise ConfigError(f"{path}: a CSV table needs a header line")
    for row in reader:
        yield {key: value for key, value in row.items() if key is not None}


def _list_rows(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    for raw in stream:
        line = raw.decode("utf-8", "replace").strip()
        if not line or line[0] in "#;":
            continue
        value, _, comment = line.partition(";")
        words = value.split()
        if not words:
            continue
        row: dict[str, Any] = {"match": [words[0]], "value": words[0]}
        if comment.strip():
            row["comment"] = comment.strip()
        yield row


def iter_table_file(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a custom table file (format from the extension, gzip detected by content)."""
    suffix = _suffix(path)
    with open_maybe_gzip(path) as stream:
        if suffix in (".jsonl", ".ndjson", ".json"):
            yield from _json_rows(stream, path)
        elif suffix == ".csv":
            yield from _csv_rows(stream, path)
        else:
            yield from _list_rows(stream)


def load_table_file(path: Path, *, name: str, key: str = "match", spool_dir: Path | None = None) -> TableIndex:
    """Index a custom table file; ``key`` names the column holding the value(s) to match."""
    rows = iter_table_file(path)
    if _suffix(path) not in (".jsonl", ".ndjson", ".json", ".csv"):
        key = "match"
    try:
        return TableIndex.build(rows, name=name, key=key, spool_dir=spool_dir)
    except OSError as exc:
        raise ConfigError(f"cannot read table file {path}: {exc}") from exc


def load_store_tables(conn: sqlite3.Connection, *, spool_dir: Path | None = None) -> dict[str, TableIndex]:
    """Every table of the home's lookup store, indexed (name = table name = the ``p_enrichment`` key)."""
    from threatmatch.storage.lookup_store import LookupStore

    store = LookupStore(conn)
    loaded: dict[str, TableIndex] = {}
    for info in store.tables():
        if info.generation is None:
            continue
        loaded[info.name] = TableIndex.build(store.iter_match_blobs(info.name), name=info.name, spool_dir=spool_dir)
    return loaded
