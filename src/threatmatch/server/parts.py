"""Which library parts this installation has. The service wires each one in when its module exists and
says precisely which module is missing otherwise (a 503 naming it), instead of pretending."""

from __future__ import annotations

import importlib.util

from threatmatch.server.errors import ApiError

#: part -> the module that provides it
PARTS = {
    "providers": "threatmatch.storage.providers_repo",
    "lookup": "threatmatch.storage.lookup_store",
    "sync": "threatmatch.sync.job",
    "scheduler": "threatmatch.sync.scheduler",
    "logtypes": "threatmatch.logtypes",
    "enrichment": "threatmatch.enrich.pipeline",
    "detections": "threatmatch.detect",
    "lake": "threatmatch.lake",
    "emulator": "threatmatch.emulator.testing",
}


def has(part: str) -> bool:
    """Whether the module providing ``part`` is importable."""
    module = PARTS[part]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def require(part: str) -> None:
    """503 naming the missing module when ``part`` is not installed."""
    if not has(part):
        raise ApiError(503, "unavailable", f"this installation lacks the {part} part (module {PARTS[part]} "
                       "is missing)")


def available() -> dict[str, bool]:
    return {part: has(part) for part in PARTS}
