"""Compile a schema once into a fast normaliser closure (the hot path of enrichment).

The visitor walks only the indicator-bearing paths: for each object level a straight-line function is
generated from the schema (dict gets, inline nested objects, list fan-out for arrays), then the standard
fields are added::

    normalize = compile_normalizer(schema)
    event = normalize(raw, "2024-05-01 10:00:00.000", row_id)   # mutates and returns ``raw``

It never raises on odd JSON: values of an unexpected type are skipped. Input keys starting with
``p_`` are reserved and removed first, so a log line cannot forge ``p_any_*`` or ``p_enrichment``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from threatmatch.logtypes.jsonscan import compile_walker
from threatmatch.logtypes.scanners import SCANNERS, Pairs, Resolver, group, resolver
from threatmatch.logtypes.schema import FieldSpec, Schema
from threatmatch.logtypes.timestamps import TimeParser, compile_time_parser

Extend = Callable[[Pairs], None]
Visitor = Callable[[Any, Extend], None]
Normalizer = Callable[[dict[str, Any], str, str], dict[str, Any]]
Fields = Callable[[dict[str, Any], str, str], "dict[str, Any] | None"]

_MAX_NESTING = 32


def _scan_list(items: list[Any], resolve: Resolver, extend: Extend, depth: int = 0) -> None:
    for item in items:
        kind = item.__class__
        if kind is str:
            found = resolve(item)
            if found:
                extend(found)
        elif kind is int:
            found = resolve(str(item))
            if found:
                extend(found)
        elif kind is list and depth < _MAX_NESTING:
            _scan_list(item, resolve, extend, depth + 1)


def _fan_out(value: Any, visit: Visitor, extend: Extend, depth: int = 0) -> None:
    """Apply ``visit`` to a dict, or to every dict inside (nested) lists."""
    kind = value.__class__
    if kind is dict:
        visit(value, extend)
    elif kind is list and depth < _MAX_NESTING:
        for item in value:
            _fan_out(item, visit, extend, depth + 1)


def _leaf(value: Any, resolve: Resolver, extend: Extend) -> None:
    """A leaf value that is not a plain string: lists fan out, integers are scanned as text."""
    kind = value.__class__
    if kind is list:
        _scan_list(value, resolve, extend)
    elif kind is int:
        found = resolve(str(value))
        if found:
            extend(found)


def _target(spec: FieldSpec) -> FieldSpec:
    """The element spec under (nested) arrays."""
    while spec.type == "array" and spec.element is not None:
        spec = spec.element
    return spec


def _relevant(spec: FieldSpec) -> bool:
    target = _target(spec)
    if target.type == "object":
        return any(_relevant(child) for child in target.fields)
    if target.type == "json":
        return bool(target.scan)
    return bool(target.indicators)


class _Generator:
    """Writes one straight-line visitor function per object level (dict gets, no per-event schema walk).

    Only schema field names reach the generated source, always as ``repr()`` string literals; resolvers,
    their memo dicts, walkers and child visitors are passed in the namespace. Log data never is.
    """

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"_leaf": _leaf, "_fan_out": _fan_out}
        self.count = 0
        self.resolvers: dict[tuple[str, ...], tuple[str, str]] = {}  # one memo per indicator set, shared by fields

    def name(self, prefix: str, value: Any) -> str:
        self.count += 1
        label = f"{prefix}{self.count}"
        self.namespace[label] = value
        return label

    def level(self, fields: tuple[FieldSpec, ...], var: str, indent: str, out: list[str]) -> None:
        value = f"v{len(indent) // 4}"
        for spec in fields:
            if not _relevant(spec):
                continue
            target = _target(spec)
            out.append(f"{indent}{value} = {var}.get({spec.name!r})")
            if target.type == "object":
                nested = self.function(target.fields)
                out.append(f"{indent}if {value}.__class__ is dict:")
                self.level(target.fields, value, indent + "    ", out)
                out += [  # a list of objects (the common case) without a call per list
                    f"{indent}elif {value}.__class__ is list:",
                    f"{indent}    for item in {value}:",
                    f"{indent}        if item.__class__ is dict:",
                    f"{indent}            {nested}(item, ext)",
                    f"{indent}        elif item.__class__ is list:",
                    f"{indent}            _fan_out(item, {nested}, ext, 1)",
                ]
            elif target.type == "json":
                walker = self.name("W", compile_walker(target.scan))
                out.append(f"{indent}if {value} is not None:")
                out.append(f"{indent}    {walker}({value}, ext)")
            else:
                function, lookup = self.resolver(target.indicators)
                out += [
                    f"{indent}if {value}.__class__ is str:",
                    f"{indent}    r = {lookup}({value})",
                    f"{indent}    if r is None:",
                    f"{indent}        r = {function}({value})",
                    f"{indent}    if r:",
                    f"{indent}        ext(r)",
                    f"{indent}elif {value} is not None:",
                    f"{indent}    _leaf({value}, {function}, ext)",
                ]

    def resolver(self, indicators: tuple[str, ...]) -> tuple[str, str]:
        """Names of the memoised resolver for ``indicators`` and of its memo's ``get``."""
        found = self.resolvers.get(indicators)
        if found is None:
            resolve, memo = resolver(indicators)
            found = self.resolvers[indicators] = (self.name("R", resolve), self.name("M", memo.get))
        return found

    def function(self, fields: tuple[FieldSpec, ...]) -> str:
        """Compile a visitor for one object level into the namespace; return its name."""
        self.count += 1
        label = f"V{self.count}"
        out = [f"def {label}(obj, ext):"]
        self.level(fields, "obj", "    ", out)
        if len(out) == 1:
            out.append("    return None")
        code = compile("\n".join(out) + "\n", f"<normaliser {label}>", "exec")
        exec(code, self.namespace)  # noqa: S102 - source built from schema field names via repr() only
        return label


def build_visitor(fields: tuple[FieldSpec, ...]) -> Visitor | None:
    """The top-level visitor of a schema, or None when no field carries indicators."""
    if not any(_relevant(spec) for spec in fields):
        return None
    generator = _Generator()
    label = generator.function(fields)
    visitor: Visitor = generator.namespace[label]
    return visitor


def event_time_paths(
    fields: tuple[FieldSpec, ...], prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], FieldSpec]]:
    """Every ``isEventTime`` timestamp field in schema order, reached through objects only."""
    found: list[tuple[tuple[str, ...], FieldSpec]] = []
    for spec in fields:
        if spec.type == "timestamp" and spec.is_event_time:
            found.append(((*prefix, spec.name), spec))
        elif spec.type == "object":
            found.extend(event_time_paths(spec.fields, (*prefix, spec.name)))
    return found


def _time_getter(path: tuple[str, ...], parse: TimeParser) -> Callable[[dict[str, Any]], str | None]:
    if len(path) == 1:
        key = path[0]

        def get_top(event: dict[str, Any]) -> str | None:
            value = event.get(key)
            return parse(value) if value is not None and value != "" else None

        return get_top

    def get_nested(event: dict[str, Any]) -> str | None:
        value: Any = event
        for key in path:
            if value.__class__ is not dict:
                return None
            value = value.get(key)
        return parse(value) if value is not None and value != "" else None

    return get_nested


def _has_reserved(event: dict[str, Any]) -> bool:
    """The event carries an input key starting with ``p_``.

    Screened with one ``join`` and two substring tests (a call per key cost a sixth of the normaliser on a
    20-key event); only an event that passes the screen has its keys checked one by one.
    """
    try:
        keys = "\n".join(event)
    except TypeError:  # a non-text key (not from JSON)
        pass
    else:
        if keys[:2] != "p_" and "\np_" not in keys:
            return False
    return any(key.__class__ is str and key[:2] == "p_" for key in event)


def _compile_standard(schema: Schema) -> Normalizer:
    """``(event, parse_time, row_id) -> {p_* fields}`` for an event without input ``p_*`` keys (read only)."""
    visit = build_visitor(schema.fields)
    time_getters = tuple(
        _time_getter(path, compile_time_parser(spec.time_formats)) for path, spec in event_time_paths(schema.fields)
    )
    log_type = schema.name
    version = schema.version

    def standard(event: dict[str, Any], parse_time: str, row_id: str) -> dict[str, Any]:
        pairs: list[tuple[str, str]] = []
        if visit is not None:
            visit(event, pairs.extend)
        event_time = None
        for getter in time_getters:
            event_time = getter(event)
            if event_time is not None:
                break
        fields = {"p_log_type": log_type, "p_row_id": row_id, "p_event_time": event_time or parse_time,
                  "p_parse_time": parse_time, "p_schema_version": version}
        if pairs:
            fields.update(group(pairs))
        return fields

    return standard


def compile_normalizer(schema: Schema) -> Normalizer:
    """Build the per-log-type normaliser ``(raw, parse_time_text, row_id) -> event``."""
    standard = _compile_standard(schema)

    def normalize(event: dict[str, Any], parse_time: str, row_id: str) -> dict[str, Any]:
        if _has_reserved(event):
            for key in [key for key in event if key.__class__ is str and key[:2] == "p_"]:
                del event[key]
        event.update(standard(event, parse_time, row_id))
        return event

    return normalize


def compile_fields(schema: Schema) -> Fields:
    """``(raw, parse_time_text, row_id) -> {p_* fields} | None``: what the normaliser would add, raw untouched.

    None when ``raw`` carries input ``p_*`` keys: only the normaliser (which removes them) may handle
    such an event. Otherwise ``{**raw, **fields}`` equals ``normalize(raw, ...)``, key order included, which
    lets a serialiser append the fields to the raw JSON text instead of re-encoding the whole event.
    """
    standard = _compile_standard(schema)

    def fields(event: dict[str, Any], parse_time: str, row_id: str) -> dict[str, Any] | None:
        if _has_reserved(event):
            return None
        return standard(event, parse_time, row_id)

    return fields


def indicator_fields(schema: Schema) -> tuple[str, ...]:
    """Sorted ``p_any_*`` fields this schema can produce (its default enrichment selectors)."""
    found: set[str] = set()

    def visit(fields: tuple[FieldSpec, ...]) -> None:
        for spec in fields:
            target: FieldSpec | None = spec
            while target is not None:
                for name in target.indicators:
                    found.update(SCANNERS[name][1])
                for rule in target.scan:
                    for name in rule.indicators:
                        found.update(SCANNERS[name][1])
                visit(target.fields)
                target = target.element

    visit(schema.fields)
    return tuple(sorted(found))
