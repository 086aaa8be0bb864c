"""Compact storage of a lookup table's rows: orjson bytes in one contiguous buffer plus offsets.

Rows are decoded only when an event matches them, so the matcher's own memory stays a dict of
canonical values and row numbers. Small tables live in one ``bytes`` object; large tables
(``spool_dir`` given) are written to a file that is memory-mapped and immediately unlinked: the pages
belong to the page cache (not the process heap), are shared by forked workers, and vanish with
the last mapping, so no stale snapshot file is ever left behind.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from array import array
from pathlib import Path
from typing import BinaryIO

from threatmatch.errors import StorageError

# Tables smaller than this stay in memory even when a spool directory is offered.
SPOOL_THRESHOLD_BYTES = 8 * 1024 * 1024


class RowStore:
    """Frozen, read-only rows addressed by number (0-based)."""

    __slots__ = ("_buf", "_offsets", "_map")

    def __init__(self, buf: bytes | mmap.mmap, offsets: array[int], mapping: mmap.mmap | None = None) -> None:
        self._buf = buf
        self._offsets = offsets
        self._map = mapping

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def get(self, number: int) -> bytes:
        """The orjson bytes of row ``number``."""
        offsets = self._offsets
        return self._buf[offsets[number]:offsets[number + 1]]

    @property
    def nbytes(self) -> int:
        """Bytes of row data (file-backed when spooled)."""
        return self._offsets[-1]

    @property
    def heap_bytes(self) -> int:
        """Bytes this store keeps on the process heap (the offsets, plus the buffer when not spooled)."""
        offsets = self._offsets.itemsize * len(self._offsets)
        return offsets if self._map is not None else offsets + len(self._buf)

    @property
    def spooled(self) -> bool:
        """True when rows live in a memory-mapped file rather than on the heap."""
        return self._map is not None


class RowStoreBuilder:
    """Append rows, then ``freeze()`` once. Misuse after freezing is an error.

    Hot loops may append to ``pending`` and ``offsets`` directly (``offsets`` holds running end
    offsets) and call ``spill()`` now and then; ``add`` does the same for one row.
    """

    def __init__(self, spool_dir: Path | None = None) -> None:
        self._spool_dir = spool_dir
        self.pending: list[bytes] = []
        self._chunks: list[bytes] = []  # joined pending rows of an in-memory store
        self.offsets = array("Q", [0])
        self._file: BinaryIO | None = None
        self._path: str | None = None
        self._frozen = False

    def add(self, blob: bytes) -> int:
        """Store one row's bytes; returns its row number."""
        if self._frozen:
            raise StorageError("row store is frozen: build a new one to change a table")
        offsets = self.offsets
        offsets.append(offsets[-1] + len(blob))
        self.pending.append(blob)
        return len(offsets) - 2

    def spill(self) -> None:
        """Move pending rows out of their own objects: into the spool file once the table is large enough
        to deserve one, else into one joined chunk (orjson's small ``bytes`` keep a far larger allocation)."""
        if not self.pending:
            return
        if self._file is None and (self._spool_dir is None or self.offsets[-1] < SPOOL_THRESHOLD_BYTES):
            self._chunks.append(b"".join(self.pending))
            self.pending = []
            return
        if self._file is None:
            self._open_spool()
        assert self._file is not None
        try:
            for chunk in self._chunks:
                self._file.write(chunk)
            self._file.write(b"".join(self.pending))
        except OSError as exc:
            raise StorageError(f"cannot write the row snapshot in {self._spool_dir}: {exc}. "
                               "Check free disk space and permissions of the home directory.") from exc
        self.pending = []
        self._chunks = []

    def _open_spool(self) -> None:
        assert self._spool_dir is not None
        try:
            self._spool_dir.mkdir(parents=True, exist_ok=True)
            fd, self._path = tempfile.mkstemp(prefix="rows-", suffix=".bin", dir=self._spool_dir)
            self._file = os.fdopen(fd, "wb", buffering=0)
        except OSError as exc:
            raise StorageError(f"cannot create the row snapshot in {self._spool_dir}: {exc}. "
                               "Check free disk space and permissions of the home directory.") from exc

    def freeze(self) -> RowStore:
        """The finished, read-only store."""
        if self._frozen:
            raise StorageError("row store already frozen")
        self.spill()
        self._frozen = True
        if self._file is None:
            data = b"".join([*self._chunks, *self.pending])
            self._chunks, self.pending = [], []
            return RowStore(data, self.offsets)
        assert self._path is not None
        try:
            self._file.close()
            with open(self._path, "rb") as handle:
                mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as exc:
            raise StorageError(f"cannot map the row snapshot {self._path}: {exc}") from exc
        finally:
            try:
                os.unlink(self._path)
            except OSError:
                pass
        return RowStore(mapping, self.offsets, mapping)
