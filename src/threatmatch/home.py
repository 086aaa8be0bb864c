"""Where threatmatch keeps its state: one directory (``--home``, ``$THREATMATCH_HOME`` or ``./.threatmatch``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_HOME = "THREATMATCH_HOME"
DEFAULT_HOME = ".threatmatch"


@dataclass(frozen=True)
class Home:
    """Paths inside the state directory. Creating a ``Home`` creates nothing; ``ensure()`` does."""

    root: Path

    @classmethod
    def resolve(cls, explicit: str | os.PathLike[str] | None = None) -> Home:
        """``--home`` wins, then ``$THREATMATCH_HOME``, then ``./.threatmatch``."""
        chosen = explicit or os.environ.get(ENV_HOME) or DEFAULT_HOME
        return cls(Path(chosen).expanduser().resolve())

    @property
    def database(self) -> Path:
        """The embedded SQLite database (WAL)."""
        return self.root / "threatmatch.db"

    @property
    def secret_key(self) -> Path:
        """Key that encrypts API tokens at rest (mode 0600)."""
        return self.root / "secret.key"

    @property
    def lake(self) -> Path:
        """Parquet data lake of enriched events and alerts."""
        return self.root / "lake"

    @property
    def snapshots(self) -> Path:
        """Frozen lookup-table snapshots for the matcher (memory-mapped)."""
        return self.root / "snapshots"

    @property
    def logtypes(self) -> Path:
        """User-added log-type schemas."""
        return self.root / "logtypes"

    def ensure(self) -> Home:
        """Create the directory tree (idempotent) and return self."""
        for path in (self.root, self.lake, self.snapshots, self.logtypes):
            path.mkdir(parents=True, exist_ok=True)
        return self
