"""Log types: schemas, input parsers, indicator scanners and the compiled per-type normaliser.

    registry = LogTypeRegistry.load(home)
    cloudtrail = registry.get("AWS.CloudTrail")
    normalize = cloudtrail.compile_normalizer()
    next_id = RowIdGenerator()
    for line_no, raw, reason in cloudtrail.parse(lines):
        if raw is not None:
            event = normalize(raw, parse_time_text, next_id())
"""

from __future__ import annotations

from threatmatch.logtypes.registry import LogType, LogTypeRegistry, builtin_schemas
from threatmatch.logtypes.rowid import RowIdGenerator
from threatmatch.logtypes.schema import FieldSpec, ParserSpec, Schema, load_schema, load_schema_file

__all__ = [
    "FieldSpec",
    "LogType",
    "LogTypeRegistry",
    "ParserSpec",
    "RowIdGenerator",
    "Schema",
    "builtin_schemas",
    "load_schema",
    "load_schema_file",
]
