"""Longest-prefix CIDR matching over integer addresses (pure).

CIDR blocks form a laminar family (two blocks are either disjoint or one contains the other), so
the address space cuts into elementary intervals, each owned by the most specific block that
covers it. ``CidrTable`` keeps the interval starts in one sorted list and the owner of each interval
in a parallel list; a lookup is one ``bisect`` (C speed, O(log n)) whatever the number of distinct
prefix lengths. IPv4 and IPv6 use separate tables.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

BITS = {4: 32, 6: 128}


class CidrTable(Generic[T]):
    """Frozen map from address to the label of the longest-prefix block containing it."""

    __slots__ = ("_starts", "_labels", "blocks")

    def __init__(self, starts: Sequence[int], labels: list[T | None], blocks: int) -> None:
        self._starts = starts
        self._labels = labels
        self.blocks = blocks

    @classmethod
    def build(cls, blocks: Iterable[tuple[int, int, T]], *, bits: int) -> CidrTable[T]:
        """``blocks`` are ``(network, prefix_length, label)``; host bits must be clear; one label per block."""
        spans = []
        for network, prefix, label in blocks:
            size = 1 << (bits - prefix)
            spans.append((network, -size, network + size - 1, label))
        spans.sort(key=lambda span: (span[0], span[1]))
        starts: list[int] = []
        labels: list[T | None] = []

        def emit(start: int, label: T | None) -> None:
            if starts and starts[-1] == start:
                labels[-1] = label
            else:
                starts.append(start)
                labels.append(label)

        stack: list[tuple[int, T]] = []
        for start, _neg_size, end, label in spans:
            while stack and stack[-1][0] < start:
                closed_end = stack.pop()[0]
                emit(closed_end + 1, stack[-1][1] if stack else None)
            stack.append((end, label))
            emit(start, label)
        while stack:
            closed_end = stack.pop()[0]
            emit(closed_end + 1, stack[-1][1] if stack else None)
        pairs = _merged_pairs(starts, labels)
        merged = [start for start, _ in pairs]
        # IPv4 starts fit 64-bit slots: a contiguous array bisects faster than a list of int objects.
        packed: Sequence[int] = array("Q", merged) if bits <= 63 else merged
        return cls(packed, [label for _, label in pairs], len(spans))

    def lookup(self, address: int) -> T | None:
        """Label of the most specific block containing ``address``, or None."""
        position = bisect_right(self._starts, address) - 1
        if position < 0:
            return None
        return self._labels[position]

    def __len__(self) -> int:
        return len(self._starts)

    def heap_bytes(self) -> int:
        """Approximate heap bytes of the two lists and the interval starts."""
        if isinstance(self._starts, array):
            return sys.getsizeof(self._starts) + sys.getsizeof(self._labels)
        return (sys.getsizeof(self._starts) + sys.getsizeof(self._labels)
                + sum(sys.getsizeof(start) for start in self._starts))


def _merged_pairs(starts: list[int], labels: list[T | None]) -> list[tuple[int, T | None]]:
    pairs: list[tuple[int, T | None]] = []
    for start, label in zip(starts, labels, strict=True):
        if pairs and pairs[-1][1] is label:
            continue
        pairs.append((start, label))
    return pairs

