"""The event a detection rule receives: a read-only, case-insensitive view over a plain dict.

Behaves like Panther's detection event: ``event["Key"]`` and ``event.get("key")`` ignore key case,
nested mappings and lists are read-only views too, ``deep_get``/``deep_walk`` walk nested data
safely, ``udm``/``udm_path`` go through the log type's data model, ``lookup`` answers from an
injected lookup function (or ``_mocked_lookup_data_`` in tests), and ``to_dict`` returns a mutable
deep copy. The wrapped dict is never copied or modified.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from threatmatch.timefmt import parse_iso

if TYPE_CHECKING:
    from threatmatch.detect.datamodel import DataModel

LookupFn = Callable[[str, str], Any]
"""``lookup(table, key) -> row | None``: answers ``event.lookup`` from our lookup tables."""

_RETURN_VALS = ("all", "first", "last")


def _view(value: Any) -> Any:
    """Wrap dicts and lists read-only; leave scalars alone."""
    kind = type(value)
    if kind is dict:
        return ImmutableDict(value)
    if kind is list or kind is tuple:
        return ImmutableList(value)
    return value


def _plain(value: Any) -> Any:
    """The plain data under a view (no copy)."""
    if isinstance(value, (ImmutableDict, ImmutableList)):
        return value._data
    return value


def _is_list(value: Any) -> bool:
    kind = type(value)
    if kind is list or kind is tuple or kind is ImmutableList:
        return True
    if kind is str or kind is dict or kind is int or kind is float or kind is bool or value is None:
        return False
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))


class ImmutableList(Sequence[Any]):
    """Read-only list view; equal to a list or tuple with the same items."""

    __slots__ = ("_data",)

    def __init__(self, data: Sequence[Any]) -> None:
        self._data = data

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> ImmutableList: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return ImmutableList(self._data[index])
        return _view(self._data[index])

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[Any]:
        return (_view(item) for item in self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ImmutableList):
            return list(self._data) == list(other._data)
        if isinstance(other, (list, tuple)):
            return list(self._data) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ImmutableList({self._data!r})"

    def copy(self) -> list[Any]:
        """A mutable deep copy."""
        return copy.deepcopy(list(self._data))


class ImmutableDict(Mapping[str, Any]):
    """Read-only mapping view whose string keys are matched without regard to case."""

    __slots__ = ("_data", "_folded")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data
        self._folded: dict[str, str] | None = None

    def _key(self, key: str) -> str | None:
        """The stored key matching ``key`` case-insensitively (first one wins on collisions).

        Standard fields (``p_...``) are matched exactly: the engine writes them in lower case and removes
        input keys starting with ``p_``, so a log line's ``P_Enrichment`` can never stand in for
        ``p_enrichment`` (and a missing ``p_enrichment``, the common case, costs no case folding).
        """
        if key.__class__ is str and key[:2] == "p_":
            return None
        folded = self._folded
        if folded is None:
            folded = {}
            for original in self._data:
                if isinstance(original, str):
                    folded.setdefault(original.lower(), original)
            self._folded = folded
        return folded.get(key.lower()) if isinstance(key, str) else None

    def __getitem__(self, key: str) -> Any:
        data = self._data
        if key in data:
            return _view(data[key])
        original = self._key(key)
        if original is None:
            raise KeyError(key)
        return _view(data[original])

    def get(self, key: str, default: Any = None) -> Any:
        """The value under ``key`` (any case), or ``default``."""
        data = self._data
        if key in data:
            return _view(data[key])
        original = self._key(key)
        if original is None:
            return default
        return _view(data[original])

    def __contains__(self, key: object) -> bool:
        return key in self._data or (isinstance(key, str) and self._key(key) is not None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"

    def to_dict(self) -> dict[str, Any]:
        """A mutable deep copy of the underlying data."""
        return copy.deepcopy(dict(self._data))

    copy = to_dict

    def raw_view(self) -> Mapping[str, Any]:
        """The wrapped data itself, uncopied: treat it as read-only."""
        return self._data

    def deep_get(self, *keys: str, default: Any = None) -> Any:
        """Follow ``keys`` through nested mappings; a missing step, a non-mapping or a final None gives ``default``."""
        current: Any = self
        for key in keys:
            if not isinstance(current, Mapping):
                return default
            current = current.get(key, default)
        return default if current is None else current

    def deep_walk(self, *keys: str, default: Any = None, return_val: str = "all") -> Any:
        """Like ``deep_get`` but descends into lists too, flattening and de-duplicating what it finds.

        ``return_val`` picks "first", "last" or "all" (a single found value is returned bare). As in
        Panther, found values are plain (mutable) copies, not read-only views.
        """
        if return_val not in _RETURN_VALS:
            return_val = "all"
        found = _walk(self._data, keys, default)
        if found is _MISSING:
            return default
        if not isinstance(found, _Collected):
            return _copy(found)
        unique = _dedupe(found)
        if not unique:
            return default
        if return_val == "first":
            return _copy(unique[0])
        if return_val == "last":
            return _copy(unique[-1])
        return _copy(unique[0]) if len(unique) == 1 else [_copy(v) for v in unique]


_MISSING = object()


class _Collected(list[Any]):
    """Values gathered while descending through a list (as opposed to a list value reached directly)."""


def _copy(value: Any) -> Any:
    return copy.deepcopy(value) if isinstance(value, (dict, list)) else value


def _get_folded(data: Mapping[str, Any], key: str, default: Any) -> Any:
    """``data[key]`` ignoring key case, else ``default``."""
    if key in data:
        return data[key]
    if isinstance(key, str):
        lowered = key.lower()
        for original in data:
            if isinstance(original, str) and original.lower() == lowered:
                return data[original]
    return default


def _walk(obj: Any, keys: Sequence[str], default: Any) -> Any:
    """One deep_walk step over plain data: a value, a list of collected values, or _MISSING."""
    if not keys:
        if obj is None or (_is_list(obj) and _all_empty(obj)):
            return _MISSING
        return obj
    if type(obj) is dict or isinstance(obj, Mapping):
        nxt = _get_folded(obj, keys[0], default)
        if nxt is None:
            return _MISSING
        return _walk(nxt, keys[1:], default)
    if _is_list(obj):
        collected = _Collected()
        for item in obj:
            value = _walk(item, keys, default)
            if value is _MISSING or value is None:
                continue
            if _is_list(value):
                collected.extend(value)
            else:
                collected.append(value)
        return collected
    return _MISSING


def _all_empty(obj: Any) -> bool:
    return all(_all_empty(item) for item in obj) if _is_list(obj) else False


def _dedupe(values: list[Any]) -> list[Any]:
    """Order-preserving de-duplication; unhashable values are compared by equality."""
    seen: set[Any] = set()
    unique: list[Any] = []
    for value in values:
        try:
            if value in seen:
                continue
            seen.add(value)
        except TypeError:
            if any(value == kept for kept in unique):
                continue
        unique.append(value)
    return unique


class PantherEvent(ImmutableDict):
    """The detection-facing event: an ``ImmutableDict`` plus ``udm``, ``udm_path``, ``lookup`` and event time."""

    __slots__ = ("data_model", "_lookup")

    def __init__(
        self,
        data: Mapping[str, Any],
        data_model: DataModel | None = None,
        lookup: LookupFn | None = None,
    ) -> None:
        self._data = data  # ImmutableDict.__init__ inlined: one of these is made per event in the hot path
        self._folded = None
        self.data_model = data_model
        self._lookup = lookup

    def udm(self, *keys: str, default: Any = None) -> Any:
        """A data-model field by name; else ``p_udm.<keys>``; else the raw ``keys``; else ``default``."""
        model = self.data_model
        if len(keys) == 1 and model is not None and model.defines(keys[0]):
            found, value = model.resolve(keys[0], self)
            return _view(_plain(value)) if found else default
        if keys:
            value = self.deep_get("p_udm", *keys)
            if not value:
                value = self.deep_get(*keys)
            if value:
                return value
        return default

    def udm_path(self, key: str) -> str | None:
        """The JSON path (without ``$.``) or method name a data-model field maps to, or None."""
        if self.data_model is None:
            return None
        return self.data_model.path_of(key, self)

    def lookup(self, table: str, key: str) -> Any:
        """A lookup-table row by table name and key (test events may carry ``_mocked_lookup_data_``)."""
        if self._lookup is not None:
            return self._lookup(table, key)
        return self.deep_get("_mocked_lookup_data_", table, key)

    def event_time_epoch(self, force_utc: bool = True) -> int:
        """``p_event_time`` as epoch seconds (UTC), or 0 when absent or unparsable."""
        text = self.get("p_event_time")
        if not isinstance(text, str):
            return 0
        moment = parse_panther_time(text)
        return int(moment.timestamp()) if moment is not None else 0


def parse_panther_time(text: str) -> Any:
    """Parse ``YYYY-MM-DD HH:MM:SS[.f{1,9}]`` or ISO-8601 text as UTC; None when unparsable."""
    value = text.strip()
    dot = value.find(".", 10)
    if dot != -1:
        end = dot + 1
        while end < len(value) and value[end].isdigit():
            end += 1
        digits = value[dot + 1 : end][:6]
        value = value[: dot + 1] + (digits or "0") + value[end:]
    return parse_iso(value)


def plain(value: Any) -> Any:
    """Deep plain-Python copy of a value that may contain event views (for JSON output)."""
    if isinstance(value, ImmutableDict):
        return {k: plain(v) for k, v in value._data.items()}
    if isinstance(value, ImmutableList):
        return [plain(v) for v in value._data]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [plain(v) for v in value]
    return value
