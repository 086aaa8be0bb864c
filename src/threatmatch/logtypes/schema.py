"""Typed log-type schema (Panther custom-schema shape) and its validation.

``load_schema(data, source)`` turns a parsed YAML mapping into a frozen :class:`Schema` or raises
:class:`~threatmatch.errors.SchemaError` listing every problem with its field path, e.g.
``fields[3].fields[0].indicators[1]: unknown indicator 'ipp' (known: ip, domain, ...)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from threatmatch.errors import SchemaError
from threatmatch.logtypes.scanners import KNOWN_INDICATORS
from threatmatch.logtypes.timestamps import check_format

FIELD_TYPES = ("string", "int", "bigint", "float", "boolean", "timestamp", "object", "array", "json")
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")
_FIELD_KEYS = frozenset({
    "name", "type", "description", "required", "indicators", "isEventTime", "timeFormat", "timeFormats",
    "fields", "element", "scan",
    "validate", "isEmbeddedJSON",
    # accepted for Panther compatibility, not applied by threatmatch (a schema using one loads with a warning):
    "isExpiration", "concealed", "upperCase", "lowerCase",
})
# Field keys Panther acts on that threatmatch accepts but does not apply: what happens instead.
NOT_APPLIED = {
    "isExpiration": "it marks a lookup table's expiry column in Panther; log types have none",
    "concealed": "the value is stored and shown as sent (not masked)",
    "upperCase": "the value keeps its case",
    "lowerCase": "the value keeps its case",
}
_ELEMENT_KEYS = _FIELD_KEYS - {"name", "required", "isEventTime"}
_TOP_KEYS = frozenset({"schema", "name", "description", "referenceURL", "version", "parser", "fields"})
_SCAN_KEYS = frozenset({"keys", "values", "indicators"})
_VALIDATE_KEYS = ("allow", "deny", "ip", "cidr")
IP_VERSIONS = ("ipv4", "ipv6", "any")
_EMBEDDED_TYPES = ("object", "array", "json")


@dataclass(frozen=True)
class Validation:
    """Panther's ``validate:`` of a string field: every rule given must hold for a value to belong to the log type.

    ``allow``/``deny``: exact values; ``ip``/``cidr``: ``ipv4``, ``ipv6`` or ``any`` (an address, a CIDR block).
    """

    allow: tuple[str, ...] | None = None
    deny: tuple[str, ...] = ()
    ip: str | None = None
    cidr: str | None = None


@dataclass(frozen=True)
class ScanRule:
    """Inside a ``json`` field: strings under matching keys (globs) or with a value prefix get scanned."""

    indicators: tuple[str, ...]
    keys: tuple[str, ...] = ()
    value_prefix: str = ""


@dataclass(frozen=True)
class FieldSpec:
    """One schema field; ``fields`` for objects, ``element`` for arrays, ``scan`` for json."""

    name: str
    type: str
    description: str = ""
    required: bool = False
    indicators: tuple[str, ...] = ()
    is_event_time: bool = False
    time_formats: tuple[str, ...] = ()
    fields: tuple[FieldSpec, ...] = ()
    element: FieldSpec | None = None
    scan: tuple[ScanRule, ...] = ()
    #: ``validate:`` (string fields): values failing it reject the event.
    validate: Validation | None = None
    #: ``isEmbeddedJSON: true`` (object, array and json fields): a JSON text found there is decoded.
    embedded_json: bool = False


@dataclass(frozen=True)
class ParserSpec:
    """Input format: ``json`` (default, JSON lines), ``csv``, ``fastmatch``, ``regex`` or ``native`` (one of our
    text parsers)."""

    kind: str = "json"
    name: str = "json"
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.name if self.kind == "native" else self.kind


@dataclass(frozen=True)
class Schema:
    """A validated log-type schema."""

    name: str
    fields: tuple[FieldSpec, ...]
    description: str = ""
    reference_url: str = ""
    version: int = 0
    parser: ParserSpec = field(default_factory=ParserSpec)
    source: str = ""
    #: Keys of ``NOT_APPLIED`` the schema sets (``fields[2].validate: not applied: ...``), in file order.
    warnings: tuple[str, ...] = ()


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.warnings: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append((path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(f"{path}: {message}")


def _fail(problems: list[tuple[str, str]], source: str) -> NoReturn:
    lines = [f"{path}: {message}" if path else message for path, message in problems]
    text = lines[0] if len(lines) == 1 else f"{len(lines)} problems:\n  " + "\n  ".join(lines)
    text += "\n  fix: correct the field(s) named above and retry; the schema format is in docs/logtypes.md"
    error = SchemaError(text, source=source)
    error.path = problems[0][0]
    raise error


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _str_list(value: Any, path: str, problems: _Problems) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.add(path, "expected a list of strings, e.g. [ip, domain]")
        return ()
    return tuple(value)


def _indicators(value: Any, path: str, problems: _Problems) -> tuple[str, ...]:
    names = _str_list(value, path, problems)
    for index, name in enumerate(names):
        if name not in KNOWN_INDICATORS:
            problems.add(f"{path}[{index}]", f"unknown indicator {name!r} (known: {', '.join(KNOWN_INDICATORS)})")
    return tuple(dict.fromkeys(name for name in names if name in KNOWN_INDICATORS))


def _scan_rules(value: Any, path: str, problems: _Problems) -> tuple[ScanRule, ...]:
    from threatmatch.logtypes.jsonscan import PRESETS

    if isinstance(value, str):
        if value not in PRESETS:
            problems.add(path, f"unknown scan preset {value!r} (known: {', '.join(PRESETS)}) or give a list of rules")
            return ()
        return PRESETS[value]
    if not isinstance(value, list):
        problems.add(path, "expected a preset name or a list of {keys: [...], indicators: [...]} rules")
        return ()
    rules: list[ScanRule] = []
    for index, item in enumerate(value):
        where = f"{path}[{index}]"
        if isinstance(item, str) and item in PRESETS:
            rules.extend(PRESETS[item])
            continue
        if not isinstance(item, dict):
            problems.add(where, f"expected a preset name ({', '.join(PRESETS)}) or a mapping with keys and indicators")
            continue
        for key in sorted(set(item) - _SCAN_KEYS):
            problems.add(_join(where, str(key)), f"unknown key (known: {', '.join(sorted(_SCAN_KEYS))})")
        indicators = _indicators(item.get("indicators"), _join(where, "indicators"), problems)
        keys = _str_list(item.get("keys", []), _join(where, "keys"), problems)
        prefix = item.get("values", "")
        if not isinstance(prefix, str):
            problems.add(_join(where, "values"), "expected a value prefix such as 'arn:'")
            prefix = ""
        if not keys and not prefix:
            problems.add(where, "give `keys` (globs like '*Arn') or `values` (a prefix like 'arn:')")
        rules.append(ScanRule(indicators=indicators, keys=tuple(k.lower() for k in keys), value_prefix=prefix))
    return tuple(rules)


def _validation(value: Any, kind: str, path: str, problems: _Problems) -> Validation | None:
    if value in (None, {}):
        return None
    if kind != "string":
        problems.add(path, f"validate applies to string fields, not {kind}")
        return None
    if not isinstance(value, dict):
        problems.add(path, "expected a mapping such as {allow: [login, logout]} or {ip: ipv4}")
        return None
    for key in value:
        if key not in _VALIDATE_KEYS:
            problems.add(_join(path, str(key)), f"unknown key (known: {', '.join(_VALIDATE_KEYS)})")
    lists: dict[str, tuple[str, ...] | None] = {}
    for key in ("allow", "deny"):
        items = value.get(key)
        if items is None:
            lists[key] = None
        elif not isinstance(items, list) or not items or not all(isinstance(item, str) for item in items):
            problems.add(_join(path, key), 'expected a non-empty list of strings, e.g. ["login", "logout"]')
            lists[key] = None
        else:
            lists[key] = tuple(items)
    versions: dict[str, str | None] = {}
    for key in ("ip", "cidr"):
        version = value.get(key)
        if version is not None and version not in IP_VERSIONS:
            problems.add(_join(path, key), f"expected one of {', '.join(IP_VERSIONS)}, got {version!r}")
            version = None
        versions[key] = version
    return Validation(allow=lists["allow"], deny=lists["deny"] or (), ip=versions["ip"], cidr=versions["cidr"])


def _field(data: Any, path: str, problems: _Problems, *, element: bool = False) -> FieldSpec | None:
    if not isinstance(data, dict):
        problems.add(path, "expected a mapping with at least `name` and `type`")
        return None
    allowed = _ELEMENT_KEYS if element else _FIELD_KEYS
    for key in data:
        if key not in allowed:
            problems.add(_join(path, str(key)), f"unknown key (known: {', '.join(sorted(allowed))})")
        elif key in NOT_APPLIED and data[key] not in (None, False, [], {}, ""):
            problems.warn(_join(path, str(key)), f"not applied by threatmatch: {NOT_APPLIED[key]}")
    name = "" if element else data.get("name")
    if not element and (not isinstance(name, str) or not name):
        problems.add(_join(path, "name"), "missing or empty field name")
        name = ""
    kind = data.get("type")
    if kind not in FIELD_TYPES:
        problems.add(_join(path, "type"), f"unknown type {kind!r} (known: {', '.join(FIELD_TYPES)})")
        kind = "string"
    indicators = _indicators(data.get("indicators", []), _join(path, "indicators"), problems)
    if indicators and kind not in ("string", "int", "bigint"):
        problems.add(_join(path, "indicators"), f"indicators apply to string fields, not {kind}; "
                     "for free-form JSON use `scan`")
    formats = _time_formats(data, path, problems)
    if formats and kind != "timestamp":
        problems.add(_join(path, "timeFormat"), f"timeFormat applies to timestamp fields, not {kind}")
    event_time = data.get("isEventTime", False)
    if event_time and kind != "timestamp":
        problems.add(_join(path, "isEventTime"), "isEventTime needs `type: timestamp`")
    children: tuple[FieldSpec, ...] = ()
    if kind == "object":
        children = _fields(data.get("fields"), _join(path, "fields"), problems)
    elif "fields" in data:
        problems.add(_join(path, "fields"), f"`fields` only applies to object fields, not {kind}")
    elem = None
    if kind == "array":
        if "element" not in data:
            problems.add(_join(path, "element"), "array fields need `element: {type: ...}`")
        else:
            elem = _field(data["element"], _join(path, "element"), problems, element=True)
    scan: tuple[ScanRule, ...] = ()
    if "scan" in data:
        if kind != "json":
            problems.add(_join(path, "scan"), "`scan` applies to json fields")
        scan = _scan_rules(data["scan"], _join(path, "scan"), problems)
    validation = _validation(data.get("validate"), kind, _join(path, "validate"), problems)
    embedded = data.get("isEmbeddedJSON", False)
    if not isinstance(embedded, bool):
        problems.add(_join(path, "isEmbeddedJSON"), "expected true or false")
        embedded = False
    elif embedded and kind not in _EMBEDDED_TYPES:
        problems.add(_join(path, "isEmbeddedJSON"), f"isEmbeddedJSON applies to object, array and json fields, "
                     f"not {kind}")
        embedded = False
    return FieldSpec(
        name=name or "", type=kind, description=str(data.get("description", "") or ""),
        required=bool(data.get("required", False)), indicators=indicators, is_event_time=bool(event_time),
        time_formats=formats, fields=children, element=elem, scan=scan, validate=validation, embedded_json=embedded,
    )


def _time_formats(data: dict[str, Any], path: str, problems: _Problems) -> tuple[str, ...]:
    formats: list[str] = []
    if "timeFormat" in data:
        formats += _str_list(data["timeFormat"], _join(path, "timeFormat"), problems)
    if "timeFormats" in data:
        formats += _str_list(data["timeFormats"], _join(path, "timeFormats"), problems)
    for index, fmt in enumerate(formats):
        reason = check_format(fmt)
        if reason:
            problems.add(_join(path, f"timeFormats[{index}]" if "timeFormats" in data else "timeFormat"), reason)
    return tuple(formats)


def _fields(data: Any, path: str, problems: _Problems) -> tuple[FieldSpec, ...]:
    if not isinstance(data, list) or not data:
        problems.add(path, "expected a non-empty list of fields")
        return ()
    found: list[FieldSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(data):
        spec = _field(item, f"{path}[{index}]", problems)
        if spec is None:
            continue
        if spec.name in seen:
            problems.add(f"{path}[{index}].name", f"duplicate field name {spec.name!r}")
        if not path.count(".") and spec.name.startswith("p_"):
            problems.add(f"{path}[{index}].name", "names starting with p_ are reserved for standard fields")
        seen.add(spec.name)
        found.append(spec)
    return tuple(found)


def load_schema(data: Any, source: str = "", default_name: str = "") -> Schema:
    """Validate a parsed schema document; raise SchemaError naming every bad field path."""
    from threatmatch.logtypes.parsers import validate_parser

    problems = _Problems()
    if not isinstance(data, dict):
        _fail([("", "a schema file must be a YAML mapping with `fields:` (see docs/logtypes.md)")], source)
    for key in data:
        if key not in _TOP_KEYS:
            problems.add(str(key), f"unknown top-level key (known: {', '.join(sorted(_TOP_KEYS))})")
    name = data.get("schema", data.get("name", default_name))
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        problems.add("schema", f"log type name {name!r} must look like Vendor.Type (letters, digits, . _ -)")
        name = ""
    version = data.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        problems.add("version", "expected a non-negative integer")
        version = 0
    fields = _fields(data.get("fields"), "fields", problems)
    parser = validate_parser(data.get("parser"), fields, problems.add)
    if problems.items:
        _fail(problems.items, source)
    return Schema(
        name=name, fields=fields, description=str(data.get("description", "") or "").strip(),
        reference_url=str(data.get("referenceURL", "") or ""), version=version, parser=parser, source=source,
        warnings=tuple(problems.warnings),
    )


def load_schema_file(path: Path) -> Schema:
    """Read and validate one schema YAML file (name defaults to the file stem)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SchemaError(f"cannot read schema file: {exc.strerror}", source=str(path)) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise SchemaError(f"not valid YAML{where}: {getattr(exc, 'problem', exc)}; fix the syntax and retry",
                          source=str(path)) from exc
    return load_schema(data, str(path), default_name=path.stem)
