"""A lookup table in use: one reference to the current frozen ``TableIndex``, swapped atomically.

Writers build a new index aside (``TableIndex.build``) and ``swap`` it in: a single attribute
assignment, atomic under the interpreter lock. Readers take ``.current`` once per batch and keep
using that index for the whole batch; they never lock and never wait, so a refresh pauses nothing.
The previous index is freed when the last batch using it finishes.
"""

from __future__ import annotations

import time

from threatmatch.enrich.index import TableIndex


class LiveTable:
    """The current index of one named table."""

    __slots__ = ("name", "_current", "generation")

    def __init__(self, index: TableIndex, *, name: str | None = None) -> None:
        self.name = name or index.name
        self._current = index
        self.generation = 1

    @classmethod
    def empty(cls, name: str) -> LiveTable:
        """A live table that matches nothing until the first swap."""
        return cls(TableIndex.empty(name), name=name)

    @property
    def current(self) -> TableIndex:
        """The index to use for one batch (take it once, use it for the whole batch)."""
        return self._current

    def swap(self, index: TableIndex, *, grace_s: float = 0.0) -> TableIndex:
        """Make ``index`` current; returns the previous one.

        Freeing a large index takes a while, and it happens in whichever thread drops the last
        reference. A builder thread should pass ``grace_s`` (longer than a batch): the call then waits
        that long before returning the previous index, so no batch still uses it and the builder, not
        a reader, pays for freeing it when it drops the returned reference.
        """
        previous = self._current
        self._current = index
        self.generation += 1
        if grace_s > 0:
            time.sleep(grace_s)
        return previous

    def __repr__(self) -> str:
        return f"<LiveTable {self.name!r} generation={self.generation} {self._current!r}>"
