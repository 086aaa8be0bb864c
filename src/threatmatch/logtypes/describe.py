"""A schema's fields as rows for people (the `log-types show` table, the console and the API): pure."""

from __future__ import annotations

from typing import NamedTuple

from threatmatch.logtypes.schema import FieldSpec, Validation

__all__ = ["FieldRow", "field_rows"]


class FieldRow(NamedTuple):
    """One field: its dotted path, its type (``array<string>`` for arrays), indicator scanners and notes."""

    path: str
    type: str
    indicators: str
    notes: str


def _chain(spec: FieldSpec) -> list[FieldSpec]:
    """A field and the element specs under it (arrays of arrays...)."""
    found: list[FieldSpec] = []
    current: FieldSpec | None = spec
    while current is not None:
        found.append(current)
        current = current.element
    return found


def _rules(rule: Validation) -> str:
    parts = [f"allow {', '.join(rule.allow)}" if rule.allow else "",
             f"deny {', '.join(rule.deny)}" if rule.deny else "",
             f"ip {rule.ip}" if rule.ip else "", f"cidr {rule.cidr}" if rule.cidr else ""]
    return "; ".join(part for part in parts if part)


def field_rows(fields: tuple[FieldSpec, ...], prefix: str = "") -> list[FieldRow]:
    """Every field of a schema, nested ones after their object (``user.email``), in schema order."""
    rows: list[FieldRow] = []
    for spec in fields:
        path = f"{prefix}{spec.name}"
        chain = _chain(spec)
        target = chain[-1]
        kind = spec.type + "".join(f"<{inner.type}>" for inner in chain[1:])
        notes = []
        if spec.required:
            notes.append("required")
        if spec.is_event_time:
            notes.append("event time")
        if spec.time_formats:
            notes.append("format " + ", ".join(spec.time_formats))
        if any(inner.embedded_json for inner in chain):
            notes.append("embedded JSON decoded")
        if target.validate is not None:
            notes.append("validate " + _rules(target.validate))
        if target.scan:
            notes.append("scanned: " + ", ".join(sorted({n for rule in target.scan for n in rule.indicators})))
        rows.append(FieldRow(path, kind, ", ".join(target.indicators), "; ".join(notes)))
        if target.type == "object":
            rows.extend(field_rows(target.fields, path + "."))
    return rows
