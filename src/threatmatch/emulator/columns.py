"""Compact columns of the filterable indicator fields, one slot per row.

Numbers and timestamps (epoch ms) live in ``array('q')`` with a NULL sentinel, low-cardinality text in a
dictionary-encoded ``Categorical``, ``value`` in a plain list. A million rows cost about 100 MB.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import Any

from threatmatch.providers.threatstream.query_fields import FIELD_KINDS, dict_accessor

NULL = -(2**63)

NUMERIC = ("id", "update_id", "confidence", "feed_id", "created_ts", "modified_ts", "expiration_ts")
CATEGORICAL = ("type", "itype", "threat_type", "subtype", "status", "source", "meta.severity", "tlp")
TEXT = ("value",)
COLUMN_FIELDS = frozenset(NUMERIC + CATEGORICAL + TEXT)
# Query names that read another column.
COLUMN_ALIASES = {"feed_name": "source"}


class Categorical:
    """Dictionary-encoded text: ``codes[row]`` indexes ``labels``."""

    def __init__(self) -> None:
        self.labels: list[str | None] = []
        self.index: dict[str | None, int] = {}
        self.codes = array("H")

    def code(self, label: str | None) -> int:
        found = self.index.get(label)
        if found is None:
            if len(self.labels) >= 65535:
                raise ValueError("more than 65535 distinct values in one categorical column")
            found = self.index[label] = len(self.labels)
            self.labels.append(label)
        return found

    def get(self, row: int) -> str | None:
        return self.labels[self.codes[row]]


class Columns:
    """All filterable columns of a dataset; rows are appended, or rewritten on mutation."""

    def __init__(self) -> None:
        self.numbers: dict[str, array[int]] = {name: array("q") for name in NUMERIC}
        self.categories: dict[str, Categorical] = {name: Categorical() for name in CATEGORICAL}
        self.values: list[str | None] = []
        self._readers = {name: dict_accessor(name) for name in NUMERIC + CATEGORICAL + TEXT}

    def __len__(self) -> int:
        return len(self.values)

    def append_object(self, obj: dict[str, Any]) -> int:
        """Add a row holding ``obj``'s filterable fields; returns the row number."""
        row = len(self.values)
        for name, column in self.numbers.items():
            column.append(self._number(name, obj))
        for name, cat in self.categories.items():
            cat.codes.append(cat.code(self._readers[name](obj)))
        self.values.append(self._readers["value"](obj))
        return row

    def set_object(self, row: int, obj: dict[str, Any]) -> None:
        """Rewrite row ``row`` from ``obj``."""
        for name, column in self.numbers.items():
            column[row] = self._number(name, obj)
        for name, cat in self.categories.items():
            cat.codes[row] = cat.code(self._readers[name](obj))
        self.values[row] = self._readers["value"](obj)

    def _number(self, name: str, obj: dict[str, Any]) -> int:
        value = self._readers[name](obj)
        if value is None:
            return NULL
        number = int(value)
        return number if -(2**63) < number < 2**63 else NULL

    def reader(self, name: str) -> Callable[[int], Any]:
        """Normalised value of column ``name`` at a row (as ``query_fields.dict_accessor`` would give)."""
        name = COLUMN_ALIASES.get(name, name)
        if name in self.numbers:
            column = self.numbers[name]

            def number(row: int) -> int | None:
                value = column[row]
                return None if value == NULL else value

            return number
        if name in self.categories:
            cat = self.categories[name]
            labels, codes = cat.labels, cat.codes
            return lambda row: labels[codes[row]]
        values = self.values
        return values.__getitem__

    def is_column(self, name: str) -> bool:
        return COLUMN_ALIASES.get(name, name) in COLUMN_FIELDS

    def kind(self, name: str) -> str:
        return FIELD_KINDS[name]
