"""Load indicator objects for ``--data FILE.json``: a JSON list of objects or a page ``{"objects": [...]}``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from threatmatch.errors import ConfigError


def load_objects(path: Path) -> list[dict[str, Any]]:
    """The indicator objects in ``path``; ConfigError says which object is wrong and why."""
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read emulator data file {path}: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"emulator data file {path} is not valid JSON: {exc}") from None
    objects = data.get("objects") if isinstance(data, dict) else data
    if not isinstance(objects, list):
        raise ConfigError(f"emulator data file {path} must hold a JSON list of indicator objects "
                          'or a page {"objects": [...]}')
    seen: set[int] = set()
    for index, obj in enumerate(objects):
        where = f"{path}: objects[{index}]"
        if not isinstance(obj, dict):
            raise ConfigError(f"{where} is not a JSON object")
        ident = obj.get("id")
        if not isinstance(ident, int) or isinstance(ident, bool) or not 0 < ident < 2**63:
            raise ConfigError(f"{where} needs a positive integer 'id' (got {ident!r})")
        if ident in seen:
            raise ConfigError(f"{where} repeats id {ident}; each indicator id must be unique")
        seen.add(ident)
        if not isinstance(obj.get("update_id"), int):
            obj["update_id"] = 100_000_001 + index
    return objects
