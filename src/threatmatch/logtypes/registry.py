"""Log types: built-in schemas shipped in ``builtin/*.yml`` plus user schemas saved in ``home.logtypes``."""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path

import yaml

from threatmatch.errors import ConfigError, NotFoundError, SchemaError
from threatmatch.home import Home
from threatmatch.logtypes.compile import Fields, Normalizer, compile_fields, compile_normalizer, indicator_fields
from threatmatch.logtypes.parsers import JsonLines, ParseResult, build_parser, json_state
from threatmatch.logtypes.schema import FieldSpec, Schema, load_schema, load_schema_file

_PLAIN_KEY = re.compile(r"[A-Za-z_@][A-Za-z0-9_@-]*")


def _path_step(name: str) -> str:
    return f".{name}" if _PLAIN_KEY.fullmatch(name) else "[" + repr(name) + "]"


def _field_paths(fields: tuple[FieldSpec, ...], prefix: str = "$") -> list[str]:
    """``$.a.b`` for every field; fields inside arrays step through ``[*]`` (``$.resources[*].arn``);
    keys that are not plain names are quoted (``$['id.orig_h']``)."""
    found: list[str] = []
    for spec in fields:
        path = prefix + _path_step(spec.name)
        found.append(path)
        target: FieldSpec | None = spec
        inner = path
        while target is not None and target.type == "array":
            target = target.element
            inner += "[*]"
        if target is not None and target.type == "object":
            found.extend(_field_paths(target.fields, inner))
    return found


class LogType:
    """One log type: its schema, input parser and compiled normaliser."""

    def __init__(self, schema: Schema, *, builtin: bool) -> None:
        self.schema = schema
        self.builtin = builtin
        self.name = schema.name
        self.description = schema.description
        self.indicator_fields: tuple[str, ...] = indicator_fields(schema)
        self.field_paths: tuple[str, ...] = tuple(_field_paths(schema.fields))
        self._parser = build_parser(schema)
        self._normalizer: Normalizer | None = None
        self._fields: Fields | None = None

    @property
    def input_format(self) -> str:
        """``json``, ``csv`` or the native parser name."""
        return self.schema.parser.label

    def parse(self, lines: Iterable[bytes | str]) -> Iterator[ParseResult]:
        """(1-based line number, raw event or None, reject reason or None) per record; never raises."""
        return self._parser(lines)

    def compile_normalizer(self) -> Normalizer:
        """The compiled ``(raw_event, parse_time_text, row_id) -> event`` function (built once, then cached)."""
        if self._normalizer is None:
            self._normalizer = compile_normalizer(self.schema)
        return self._normalizer

    def compile_fields(self) -> Fields:
        """The compiled ``(raw_event, parse_time_text, row_id) -> p_* fields | None`` (raw untouched; see
        ``threatmatch.logtypes.compile.compile_fields``), built once, then cached."""
        if self._fields is None:
            self._fields = compile_fields(self.schema)
        return self._fields

    def json_state(self) -> JsonLines | None:
        """A fresh incremental parser (what :meth:`parse` runs) for a JSON log type; None for other formats."""
        return json_state(self.schema)

    def __repr__(self) -> str:
        return f"LogType({self.name!r}, format={self.input_format!r}, builtin={self.builtin})"


@functools.cache
def builtin_schemas() -> tuple[Schema, ...]:
    """Every shipped schema, validated (cached per process)."""
    folder = resources.files("threatmatch.logtypes") / "builtin"
    schemas = []
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".yml"):
            data = yaml.safe_load(entry.read_text(encoding="utf-8"))
            schemas.append(load_schema(data, f"builtin/{entry.name}"))
    return tuple(schemas)


class LogTypeRegistry:
    """Every known log type by name."""

    def __init__(self, types: Iterable[LogType], home: Home | None = None) -> None:
        self.home = home
        self._types = {log_type.name: log_type for log_type in types}

    @classmethod
    def load(cls, home: Home | None = None) -> LogTypeRegistry:
        """Built-ins plus the user schemas saved under ``home.logtypes`` (when a home is given)."""
        types = [LogType(schema, builtin=True) for schema in builtin_schemas()]
        names = {log_type.name for log_type in types}
        if home is not None and home.logtypes.is_dir():
            for path in sorted(home.logtypes.glob("*.yml")):
                schema = load_schema_file(path)
                if schema.name in names:
                    raise SchemaError(f"log type {schema.name} clashes with a built-in; rename or delete the file",
                                      source=str(path))
                names.add(schema.name)
                types.append(LogType(schema, builtin=False))
        return cls(types, home)

    def names(self) -> list[str]:
        """Sorted log type names."""
        return sorted(self._types)

    def __iter__(self) -> Iterator[LogType]:
        return iter(self._types[name] for name in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def get(self, name: str) -> LogType:
        """The named log type; NotFoundError suggests close names."""
        found = self._types.get(name)
        if found is not None:
            return found
        lowered = {key.lower(): key for key in self._types}
        if name.lower() in lowered:
            hint = [lowered[name.lower()]]
        else:
            hint = difflib.get_close_matches(name, list(self._types), n=3, cutoff=0.5)
        suggestion = f"; did you mean {' or '.join(hint)}?" if hint else ""
        raise NotFoundError(f"unknown log type {name!r}{suggestion} (see `threatmatch log-types list`)")

    def add(self, path: Path) -> LogType:
        """Validate a user schema and save it under ``home.logtypes/<name>.yml`` (replacing an older copy)."""
        if self.home is None:
            raise ConfigError("no home directory to save the log type in")
        schema = load_schema_file(Path(path))
        existing = self._types.get(schema.name)
        if existing is not None and existing.builtin:
            raise SchemaError(f"log type {schema.name} is built in and cannot be replaced; "
                              f"give your schema another name (e.g. `schema: Custom.{schema.name.split('.')[-1]}`)",
                              source=str(path))
        self.home.ensure()
        target = self.home.logtypes / f"{schema.name}.yml"
        text = Path(path).read_text(encoding="utf-8")
        if yaml.safe_load(text).get("schema") is None and yaml.safe_load(text).get("name") is None:
            text = f"schema: {schema.name}\n{text}"
        target.write_text(text, encoding="utf-8")
        saved = load_schema_file(target)
        log_type = LogType(saved, builtin=False)
        self._types[saved.name] = log_type
        return log_type
