"""Test-only changes to the emulated intelligence: add, modify, deactivate, mark false positive, expire.

Every change gives the indicator the next value of the global ``update_id`` counter and a new
``modified_ts`` (the wall clock, kept strictly increasing), exactly as an update on the real service
would, so incremental clients see it again past their cursor. Callers hold ``dataset.lock``.
"""

from __future__ import annotations

import random
from typing import Any

from threatmatch.emulator import catalog
from threatmatch.emulator.columns import Columns
from threatmatch.emulator.dataset import Dataset
from threatmatch.emulator.generate import ID_BASE, SENTINEL_MS, Generator
from threatmatch.emulator.render import bifocals, iso, make_renderer, object_from_text

_GENERATOR = Generator(0)


class UnknownIndicator(LookupError):
    """No indicator has the requested id."""


def add(dataset: Dataset, fields: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """A new realistic indicator (``fields`` override any generated value); returns the object."""
    ident = _new_id(dataset, fields.get("id"))
    rnd = random.Random(ident)
    itype = _itype(rnd, fields)
    if fields.get("type") == "hash":
        fields = {**fields, "type": "md5"}
    kind = str(fields.get("type") or catalog.ITYPE_TYPE.get(itype, "string"))
    feed = next((f for f in catalog.FEEDS if any(i == itype for i, _ in f.itypes)), catalog.FEEDS[0])
    subtype = rnd.choice(("MD5", "SHA1", "SHA256")) if kind == "md5" else None
    stamp = _stamp(dataset, now_ms)
    seed_obj = {
        "id": ident, "update_id": dataset.next_update_id, "type": kind, "itype": itype,
        "threat_type": catalog.THREAT_OF_ITYPE.get(itype, "malware"), "subtype": subtype, "status": "active",
        "confidence": rnd.randrange(30, 101), "feed_id": feed.feed_id, "source": feed.source,
        "meta": {"severity": rnd.choice(("low", "medium", "high", "very-high"))}, "tlp": None,
        "created_ts": iso(stamp), "modified_ts": iso(stamp), "expiration_ts": iso(SENTINEL_MS),
        "value": _GENERATOR.value(rnd, kind, itype, subtype),
    }
    scratch = Columns()
    scratch.append_object(seed_obj)
    obj = object_from_text(make_renderer(scratch, ident)((0,))[0])
    _merge(obj, fields)
    obj["id"] = ident
    obj["update_id"] = dataset.next_update_id
    obj["resource_uri"] = f"/api/v2/intelligence/{ident}/"
    dataset.next_update_id += 1
    row = dataset.columns.append_object(obj)
    dataset.store(row, obj)
    dataset.touched(row, None)
    return obj


def modify(dataset: Dataset, ident: int, fields: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """Apply ``fields`` (nested ``meta``/dotted keys merge) to indicator ``ident``; returns the object."""
    row = dataset.find(ident)
    if row is None:
        raise UnknownIndicator(f"no indicator with id {ident}")
    obj = dataset.object(row)
    old_update_id = obj.get("update_id")
    explicit_modified = "modified_ts" in fields
    _merge(obj, {k: v for k, v in fields.items() if k not in ("id", "update_id", "resource_uri")})
    obj["update_id"] = dataset.next_update_id
    dataset.next_update_id += 1
    if not explicit_modified:
        obj["modified_ts"] = iso(_stamp(dataset, now_ms))
    dataset.store(row, obj)
    dataset.touched(row, old_update_id if isinstance(old_update_id, int) else None)
    return obj


def deactivate(dataset: Dataset, ident: int, now_ms: int) -> dict[str, Any]:
    """``status=inactive`` with the ``bifocals_deactivated_on_<ts>`` note ThreatStream writes."""
    return modify(dataset, ident, {"status": "inactive", "meta.detail2": bifocals(now_ms, now_ms * 7)}, now_ms)


def falsepos(dataset: Dataset, ident: int, now_ms: int) -> dict[str, Any]:
    """``status=falsepos``."""
    return modify(dataset, ident, {"status": "falsepos"}, now_ms)


def expire(dataset: Dataset, ident: int, now_ms: int) -> dict[str, Any]:
    """``expiration_ts`` one minute in the past (status unchanged: clients must check expiry themselves)."""
    return modify(dataset, ident, {"expiration_ts": iso(now_ms - 60_000)}, now_ms)


def _stamp(dataset: Dataset, now_ms: int) -> int:
    """The modification time: now, but strictly after every existing modified_ts."""
    return max(now_ms, dataset.max_modified + 1)


def _new_id(dataset: Dataset, wanted: Any) -> int:
    if isinstance(wanted, int) and not isinstance(wanted, bool):
        if dataset.find(wanted) is not None:
            raise ValueError(f"an indicator with id {wanted} already exists")
        return wanted
    ident = ID_BASE + 4 * dataset.generated + 7 * (len(dataset) - dataset.generated) + 3
    while dataset.find(ident) is not None:
        ident += 7
    return ident


def _itype(rnd: random.Random, fields: dict[str, Any]) -> str:
    if isinstance(fields.get("itype"), str):
        return str(fields["itype"])
    kind = fields.get("type")
    if kind == "hash":
        kind = "md5"
    candidates = sorted(i for i, t in catalog.ITYPE_TYPE.items() if kind is None or t == kind)
    return rnd.choice(candidates) if candidates else "mal_ip"


def _merge(obj: dict[str, Any], fields: dict[str, Any]) -> None:
    """Set ``fields`` on ``obj``: ``"meta.severity"`` and ``{"meta": {...}}`` update the nested object."""
    for key, value in fields.items():
        if "." in key:
            parent, child = key.split(".", 1)
            inner = obj.get(parent)
            if not isinstance(inner, dict):
                inner = obj[parent] = {}
            inner[child] = value
        elif isinstance(value, dict) and isinstance(obj.get(key), dict):
            obj[key].update(value)
        else:
            obj[key] = value
