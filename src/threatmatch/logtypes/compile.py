"""Compile a schema once into a fast normaliser closure (the hot path of enrichment).

The closure walks only the indicator-bearing paths (precomputed per object level, list fan-out for
arrays) with dict gets, then adds the standard fields::

    normalize = compile_normalizer(schema)
    event = normalize(raw, "2024-05-01 10:00:00.000", row_id)   # mutates and returns ``raw``

It never raises on odd JSON: values of an unexpected type are skipped. Input keys starting with
``p_`` are reserved and removed first, so a log line cannot forge ``p_any_*`` or ``p_enrichment``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from threatmatch.logtypes.jsonscan import compile_walker
from threatmatch.logtypes.scanners import SCANNERS, Acc, Scanner, combine
from threatmatch.logtypes.schema import FieldSpec, Schema
from threatmatch.logtypes.timestamps import TimeParser, compile_time_parser

Visitor = Callable[[Any, Acc], None]
Normalizer = Callable[[dict[str, Any], str, str], dict[str, Any]]

_MAX_NESTING = 32


def _scan_list(items: list[Any], scan: Scanner, acc: Acc, depth: int = 0) -> None:
    for item in items:
        kind = item.__class__
        if kind is str:
            scan(item, acc)
        elif kind is int:
            scan(str(item), acc)
        elif kind is list and depth < _MAX_NESTING:
            _scan_list(item, scan, acc, depth + 1)


def _fan_out(value: Any, visit: Visitor, acc: Acc, depth: int = 0) -> None:
    """Apply ``visit`` to a dict, or to every dict inside (nested) lists."""
    kind = value.__class__
    if kind is dict:
        visit(value, acc)
    elif kind is list and depth < _MAX_NESTING:
        for item in value:
            _fan_out(item, visit, acc, depth + 1)


def _leaf_scanner(spec: FieldSpec) -> Scanner | None:
    """Scanner for a string field, or for an array whose (nested) element is a string field."""
    while spec.type == "array" and spec.element is not None:
        spec = spec.element
    return combine(spec.indicators) if spec.indicators else None


def _object_visitor(fields: tuple[FieldSpec, ...]) -> Visitor | None:
    """Visitor for one object level; None when nothing below carries indicators."""
    leaves: list[tuple[str, Scanner]] = []
    children: list[tuple[str, Visitor]] = []
    walkers: list[tuple[str, Visitor]] = []
    for spec in fields:
        target = spec
        while target.type == "array" and target.element is not None:
            target = target.element
        if target.type == "object":
            child = _object_visitor(target.fields)
            if child is not None:
                children.append((spec.name, child))
        elif target.type == "json" and target.scan:
            walkers.append((spec.name, compile_walker(target.scan)))
        else:
            scanner = _leaf_scanner(spec)
            if scanner is not None:
                leaves.append((spec.name, scanner))
    if not leaves and not children and not walkers:
        return None
    leaf_steps = tuple(leaves)
    child_steps = tuple(children)
    walker_steps = tuple(walkers)

    def visit(obj: dict[str, Any], acc: Acc) -> None:
        get = obj.get
        for name, scan in leaf_steps:
            value = get(name)
            if value is None:
                continue
            kind = value.__class__
            if kind is str:
                scan(value, acc)
            elif kind is list:
                _scan_list(value, scan, acc)
            elif kind is int:
                scan(str(value), acc)
        for name, child in child_steps:
            value = get(name)
            if value is not None:
                _fan_out(value, child, acc)
        for name, walker in walker_steps:
            value = get(name)
            if value is not None:
                walker(value, acc)

    return visit


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


def compile_normalizer(schema: Schema) -> Normalizer:
    """Build the per-log-type normaliser ``(raw, parse_time_text, row_id) -> event``."""
    visit = _object_visitor(schema.fields)
    time_getters = tuple(
        _time_getter(path, compile_time_parser(spec.time_formats)) for path, spec in event_time_paths(schema.fields)
    )
    log_type = schema.name
    version = schema.version

    def normalize(event: dict[str, Any], parse_time: str, row_id: str) -> dict[str, Any]:
        reserved = [key for key in event if key[:2] == "p_"]
        for key in reserved:
            del event[key]
        acc: Acc = {}
        if visit is not None:
            visit(event, acc)
        event_time = None
        for getter in time_getters:
            event_time = getter(event)
            if event_time is not None:
                break
        event["p_log_type"] = log_type
        event["p_row_id"] = row_id
        event["p_event_time"] = event_time or parse_time
        event["p_parse_time"] = parse_time
        event["p_schema_version"] = version
        for field in sorted(acc):
            values = acc[field]
            event[field] = sorted(set(values)) if len(values) > 1 else values
        return event

    return normalize


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
