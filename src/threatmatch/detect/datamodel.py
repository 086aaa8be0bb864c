"""Data models: per-log-type field names (``source_ip``, ``actor_user``...) for ``event.udm``.

Compatible with panther-analysis ``AnalysisType: datamodel`` YAML: ``Mappings`` of ``Name`` plus
either ``Path`` (a JSON path such as ``$.client.ipAddress``) or ``Method`` (a function in the
model's ``Filename`` module). Paths are compiled once; the JSON-path subset is field names
(``a.b``, ``['a b']``), list indexes (``[0]``), wildcards (``[*]``, ``.*``) and equality
filters on list items (``[?(@.name == 'ROLE_NAME')]``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from threatmatch.errors import RuleError

_TOKEN = re.compile(
    r"""\.\.?(?P<dot>[A-Za-z_@$][\w@$\-]*|\*)      # .name or .*
      | \[\s*(?P<idx>-?\d+)\s*\]                   # [3]
      | \[\s*(?P<star>\*)\s*\]                     # [*]
      | \[\s*'(?P<sq>[^']*)'\s*\]                  # ['name']
      | \[\s*"(?P<dq>[^"]*)"\s*\]                  # ["name"]
      | \[\s*\?\s*\(\s*@\.(?P<fpath>[\w.]+)\s*(?P<fop>==|!=)\s*
            (?:'(?P<fsq>[^']*)'|"(?P<fdq>[^"]*)"|(?P<fnum>-?\d+(?:\.\d+)?)|(?P<fbool>true|false))\s*\)\s*\]
    """,
    re.VERBOSE,
)

_Step = tuple[str, Any]  # ("key", name) | ("index", n) | ("all", None) | ("filter", (keys, op, literal))


@dataclass(frozen=True)
class JsonPath:
    """A compiled JSON path; ``find`` returns ``(value, path_text)`` pairs for every match."""

    text: str
    steps: tuple[_Step, ...]

    @classmethod
    def compile(cls, text: str) -> JsonPath:
        """Compile ``$.a.b[0]``-style text (a leading ``$`` is optional); RuleError when unsupported."""
        source = text.strip()
        rest = source[1:] if source.startswith("$") else "." + source if source else ""
        steps: list[_Step] = []
        pos = 0
        while pos < len(rest):
            match = _TOKEN.match(rest, pos)
            if match is None or match.group(0).startswith(".."):
                raise RuleError(
                    f"unsupported JSON path {text!r} at character {pos + (len(source) - len(rest))}: "
                    "use field names, [n], [*] or ['quoted name']"
                )
            if match.group("dot") is not None:
                name = match.group("dot")
                steps.append(("all", None) if name == "*" else ("key", name))
            elif match.group("idx") is not None:
                steps.append(("index", int(match.group("idx"))))
            elif match.group("star") is not None:
                steps.append(("all", None))
            elif match.group("fpath") is not None:
                steps.append(("filter", (tuple(match.group("fpath").split(".")), match.group("fop"), _literal(match))))
            else:
                steps.append(("key", match.group("sq") if match.group("sq") is not None else match.group("dq")))
            pos = match.end()
        if not steps:
            raise RuleError(f"empty JSON path {text!r}: name at least one field, e.g. $.client.ipAddress")
        return cls(source, tuple(steps))

    def find(self, data: Any) -> list[tuple[Any, str]]:
        """Every value the path reaches in ``data``, with its concrete path text (``a.b.[0]``)."""
        current: list[tuple[Any, list[str]]] = [(data, [])]
        for kind, arg in self.steps:
            following: list[tuple[Any, list[str]]] = []
            for value, trail in current:
                following.extend(_step(value, trail, kind, arg))
            current = following
            if not current:
                return []
        return [(value, ".".join(trail)) for value, trail in current]


def _literal(match: re.Match[str]) -> Any:
    if match.group("fsq") is not None:
        return match.group("fsq")
    if match.group("fdq") is not None:
        return match.group("fdq")
    if match.group("fbool") is not None:
        return match.group("fbool") == "true"
    number = match.group("fnum")
    return float(number) if "." in number else int(number)


def _keep(item: Any, keys: tuple[str, ...], op: str, literal: Any) -> bool:
    for key in keys:
        if not isinstance(item, Mapping) or key not in item:
            return False
        item = item[key]
    return bool(item == literal) if op == "==" else bool(item != literal)


def _step(value: Any, trail: list[str], kind: str, arg: Any) -> Iterable[tuple[Any, list[str]]]:
    if kind == "filter":
        keys, op, literal = arg
        if isinstance(value, Mapping):
            return [(value, trail)] if _keep(value, keys, op, literal) else []
        if not _is_list(value):
            return []
        return [(item, [*trail, f"[{i}]"]) for i, item in enumerate(value) if _keep(item, keys, op, literal)]
    if kind == "key":
        if isinstance(value, Mapping) and arg in value:
            return [(value[arg], [*trail, arg])]
        return []
    if kind == "index":
        if _is_list(value) and -len(value) <= arg < len(value):
            return [(value[arg], [*trail, f"[{arg}]"])]
        return []
    if isinstance(value, Mapping):
        return [(item, [*trail, str(key)]) for key, item in value.items()]
    if _is_list(value):
        return [(item, [*trail, f"[{i}]"]) for i, item in enumerate(value)]
    return []


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))


@dataclass
class DataModel:
    """One data model: the log types it serves and its name -> path / method mappings."""

    id: str
    log_types: tuple[str, ...]
    paths: dict[str, JsonPath] = field(default_factory=dict)
    methods: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    enabled: bool = True
    source: str = ""

    def defines(self, name: str) -> bool:
        """Whether ``name`` is mapped by this model."""
        return name in self.paths or name in self.methods

    def resolve(self, name: str, event: Any) -> tuple[bool, Any]:
        """``(found, value)`` for a mapped name; several JSON-path matches are an error, as in Panther."""
        path = self.paths.get(name)
        if path is not None:
            matches = path.find(getattr(event, "_data", event))
            if not matches:
                return False, None
            if len(matches) > 1:
                raise RuleError(f"data model {self.id!r}: JSON path {path.text!r} for {name!r} matched several fields")
            return True, matches[0][0]
        method = self.methods.get(name)
        if method is not None:
            return True, method(event)
        return False, None

    def path_of(self, name: str, event: Any) -> str | None:
        """The concrete path text of a mapped name in ``event`` (Panther's ``udm_path``), or the method name."""
        path = self.paths.get(name)
        if path is not None:
            matches = path.find(getattr(event, "_data", event))
            return matches[0][1] if len(matches) == 1 else None
        method = self.methods.get(name)
        if method is not None:
            return str(getattr(method, "__name__", repr(method)))
        return None


def datamodel_from_mappings(
    model_id: str,
    log_types: Sequence[str],
    mappings: Iterable[tuple[str, str | None, Callable[[Any], Any] | None]],
    *,
    enabled: bool = True,
    source: str = "",
) -> DataModel:
    """Build a DataModel from ``(name, path, method)`` triples; each needs exactly a path or a method."""
    model = DataModel(model_id, tuple(log_types), enabled=enabled, source=source)
    for name, path, method in mappings:
        if not name:
            raise RuleError(f"{source or model_id}: a data-model mapping has no Name")
        if path:
            model.paths[name] = JsonPath.compile(path)
        elif method is not None:
            model.methods[name] = method
        else:
            raise RuleError(f"{source or model_id}: mapping {name!r} needs a Path or a Method")
    return model


class DataModels:
    """Data models by log type (the enabled one wins; two enabled models for one log type is an error)."""

    def __init__(self, models: Iterable[DataModel] = ()) -> None:
        self._by_log_type: dict[str, DataModel] = {}
        for model in models:
            self.add(model)

    def add(self, model: DataModel) -> None:
        """Register ``model`` for each of its log types."""
        if not model.enabled:
            return
        for log_type in model.log_types:
            existing = self._by_log_type.get(log_type)
            if existing is not None and existing is not model:
                raise RuleError(
                    f"two data models for log type {log_type!r}: {existing.id} ({existing.source}) "
                    f"and {model.id} ({model.source}); disable one (Enabled: false)"
                )
            self._by_log_type[log_type] = model

    def for_log_type(self, log_type: Any) -> DataModel | None:
        """The model serving ``log_type``, if any."""
        return self._by_log_type.get(log_type) if isinstance(log_type, str) else None

    def __len__(self) -> int:
        return len({id(m) for m in self._by_log_type.values()})
