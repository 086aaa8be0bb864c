"""What a schema asks of every event beyond its shape (pure; compiled once per log type).

* ``isEmbeddedJSON: true`` (object, array and json fields): a field holding JSON *text* gets the decoded value,
  so indicators, required fields and validation inside it apply. Text that is not JSON, or not the JSON kind the
  field declares, rejects the event. Empty text is left as it is.
* ``required: true``: the field is present and not empty (``null``/``""``); the required fields of an object are
  checked wherever the object is present (inside an optional object, in each object of an array).
* ``validate:`` (string fields): ``allow``/``deny`` lists of exact values, ``ip``/``cidr`` (``ipv4``, ``ipv6`` or
  ``any``). Absent and empty values pass (``required`` decides about them); numbers are checked as their JSON text.
  In Panther these rules tell apart log types sharing a source; here a line is sent to one log type, so an event
  that fails them does not belong to it and is rejected with the rule it broke.

``compile_check(schema)`` gives ``event -> reason | None`` (None: the event belongs to the log type), or None when
the schema asks for none of this. Fields are checked in schema order, each one decoded first, so the reason is
the first rule broken. The check may change the event in place (``rewrites(schema)`` says whether it
can: only embedded JSON does). Values quoted in a reason are JSON-escaped and shortened: they come from the log.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import orjson

from threatmatch.logtypes.schema import FieldSpec, Schema, Validation

__all__ = ["Check", "compile_check", "rewrites"]

Check = Callable[[dict[str, Any]], "str | None"]
_Node = Callable[[Any, str], "str | None"]  # a field's value and its path in the event -> reason | None

MAX_SHOWN = 80  # characters of a logged value quoted in a reason
MAX_LISTED = 5  # allowed values named in a reason
_CONTAINERS: dict[str, type] = {"object": dict, "array": list}


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number",
            bool: "a boolean"}.get(value.__class__, "null")


def _shown(text: str) -> str:
    quoted = orjson.dumps(text[:MAX_SHOWN]).decode()
    return quoted + "..." if len(text) > MAX_SHOWN else quoted


def _listed(values: tuple[str, ...]) -> str:
    shown = ", ".join(_shown(value) for value in values[:MAX_LISTED])
    return shown if len(values) <= MAX_LISTED else f"{shown}, ... {len(values)} in all"


def _is_ip(text: str, version: str) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return version == "any" or address.version == (4 if version == "ipv4" else 6)


def _is_cidr(text: str, version: str) -> bool:
    if "/" not in text:
        return False
    try:
        network = ipaddress.ip_network(text, strict=False)  # host bits may be set, as Go's ParseCIDR allows
    except ValueError:
        return False
    return version == "any" or network.version == (4 if version == "ipv4" else 6)


_WHAT = {"ipv4": "an IPv4", "ipv6": "an IPv6", "any": "an IP"}


def _validator(rule: Validation, suffix: str) -> _Node:
    allow = frozenset(rule.allow) if rule.allow is not None else None
    allowed = _listed(rule.allow or ())
    deny = frozenset(rule.deny)

    def check(value: Any, where: str) -> str | None:
        if value.__class__ is str:
            text: str = value
        elif value.__class__ is int or value.__class__ is float:
            text = orjson.dumps(value).decode()
        else:
            return f"field {where}: expected a string for its validate rule, got {_kind(value)}{suffix}"
        if not text:
            return None
        if allow is not None and text not in allow:
            return f"field {where}: {_shown(text)} is not in validate.allow ({allowed}){suffix}"
        if text in deny:
            return f"field {where}: {_shown(text)} is in validate.deny{suffix}"
        if rule.ip is not None and not _is_ip(text, rule.ip):
            return f"field {where}: {_shown(text)} is not {_WHAT[rule.ip]} address (validate.ip: {rule.ip}){suffix}"
        if rule.cidr is not None and not _is_cidr(text, rule.cidr):
            return (f"field {where}: {_shown(text)} is not {_WHAT[rule.cidr]} CIDR block such as "
                    f"{'2001:db8::/32' if rule.cidr == 'ipv6' else '10.0.0.0/8'} (validate.cidr: {rule.cidr}){suffix}")
        return None

    return check


def _decode(text: str, kind: str, where: str, suffix: str) -> tuple[Any, str | None]:
    """The JSON value inside ``text`` for an ``isEmbeddedJSON`` field of type ``kind``, or the reason it has none."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return None, f"field {where}: isEmbeddedJSON: the text is not valid JSON ({exc}){suffix}"
    wanted = _CONTAINERS.get(kind)
    if wanted is not None and value.__class__ is not wanted:
        return None, (f"field {where}: isEmbeddedJSON: expected the JSON text of {_kind(wanted())} (type: {kind}), "
                      f"got {_kind(value)}{suffix}")
    return value, None


def _apply(value: Any, embedded: str | None, node: _Node | None, here: str, suffix: str) -> tuple[Any, str | None]:
    """One present value: decoded first when it is embedded JSON text (``embedded``: the field's type), then checked
    by ``node``; the (possibly decoded) value and the reason it fails, if any."""
    if embedded is not None and value.__class__ is str and value.strip():
        value, reason = _decode(value, embedded, here, suffix)
        if reason is not None:
            return value, reason
    if node is not None and value is not None:
        return value, node(value, here)
    return value, None


def _node(spec: FieldSpec, suffix: str) -> _Node | None:
    """The work on one field's value and below it, or None when there is none."""
    if spec.type == "object":
        return _object(spec.fields, suffix)
    if spec.type == "array" and spec.element is not None:
        return _array(spec.element, suffix)
    if spec.type == "string" and spec.validate is not None:
        return _validator(spec.validate, suffix)
    return None


def _object(fields: tuple[FieldSpec, ...], suffix: str) -> _Node | None:
    parts = [(spec.name, spec.type if spec.embedded_json else None, _node(spec, suffix), spec.required)
             for spec in fields]
    parts = [part for part in parts if part[1] is not None or part[2] is not None or part[3]]
    if not parts:
        return None

    def visit(obj: Any, where: str) -> str | None:
        if obj.__class__ is not dict:
            return None
        for name, embedded, node, required in parts:
            value = obj.get(name)
            if value is None or value == "":
                if required:
                    return f"required field {where}.{name} is missing" if where else \
                        f"required field {name} is missing"
                continue
            decoded, reason = _apply(value, embedded, node, f"{where}.{name}" if where else name, suffix)
            if reason is not None:
                return reason
            if decoded is not value:
                obj[name] = decoded
        return None

    return visit


def _array(element: FieldSpec, suffix: str) -> _Node | None:
    node = _node(element, suffix)
    embedded = element.type if element.embedded_json else None
    if node is None and embedded is None:
        return None

    def visit(items: Any, where: str) -> str | None:
        if items.__class__ is not list:
            return None
        for index, item in enumerate(items):
            if item is None:
                continue
            decoded, reason = _apply(item, embedded, node, f"{where}[{index}]", suffix)
            if reason is not None:
                return reason
            if decoded is not item:
                items[index] = decoded
        return None

    return visit


def compile_check(schema: Schema) -> Check | None:
    """``event -> reason | None`` for what ``schema`` asks of every event (module docstring), or None."""
    walk = _object(schema.fields, f": the event does not match log type {schema.name}")
    if walk is None:
        return None
    return lambda event: walk(event, "")


def _embedded(spec: FieldSpec | None) -> bool:
    while spec is not None:
        if spec.embedded_json or any(_embedded(child) for child in spec.fields):
            return True
        spec = spec.element
    return False


def rewrites(schema: Schema) -> bool:
    """Whether the check of ``schema`` may change an event (a field anywhere is marked ``isEmbeddedJSON``)."""
    return any(_embedded(spec) for spec in schema.fields)
