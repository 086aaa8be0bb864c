"""Which files of a partition a reader reads (see ``compaction`` for the protocol that makes this safe)."""

from __future__ import annotations

from pathlib import Path

import orjson

MANIFEST_GLOB = "_replaced-*.json"
LOCK_NAME = ".lock"


def visible_files(directory: Path) -> list[Path]:
    """The parquet files of one partition to read: files replaced by a finished merge are left out.

    Parquet files are listed before manifests, so a merged file seen here always comes with its manifest.
    """
    files = sorted(directory.glob("*.parquet"))
    if not files:
        return files
    hidden: set[str] = set()
    for manifest in directory.glob(MANIFEST_GLOB):
        try:
            content = orjson.loads(manifest.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        if isinstance(content, dict) and (directory / str(content.get("compacted", ""))).exists():
            hidden.update(str(name) for name in content.get("replaces", []))
    return [f for f in files if f.name not in hidden]
