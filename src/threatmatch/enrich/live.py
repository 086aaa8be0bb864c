"""A lookup table in use: one reference to the current frozen ``TableIndex``, swapped atomically.

Writers build a new index aside (``TableIndex.build``) and ``swap`` it in: a single attribute
assignment, atomic under the interpreter lock. Readers take ``.current`` once per batch and keep
using that index for the whole batch; they never lock and never wait, so a refresh pauses nothing.
The previous index is freed when the last batch using it finishes.
"""

from __future__ import annotations

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

    def swap(self, index: TableIndex) -> TableIndex:
        """Make ``index`` current; returns the previous one."""
        previous = self._current
        self._current = index
        self.generation += 1
        return previous

    def __repr__(self) -> str:
        return f"<LiveTable {self.name!r} generation={self.generation} {self._current!r}>"
