"""Rule packs shipped with threatmatch."""

from __future__ import annotations

from pathlib import Path


def builtin_rules_dir() -> Path:
    """The built-in rule pack (Anomali ThreatStream enrichment rules)."""
    return Path(__file__).resolve().parent / "threatmatch"
