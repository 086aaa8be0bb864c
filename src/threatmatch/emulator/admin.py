"""Test-only admin endpoints under ``/_admin/`` (no API credentials; never part of the real API).

    GET    /_admin/state                         counts, update_id counter, config (no API key), faults
    POST   /_admin/indicators                    add one indicator      body: fields to set (JSON object)
    GET    /_admin/indicators/<id>               read one indicator
    POST   /_admin/indicators/<id>               modify                 body: fields ("meta.severity" merges)
    POST   /_admin/indicators/<id>/deactivate    status=inactive + bifocals note
    POST   /_admin/indicators/<id>/falsepos      status=falsepos
    POST   /_admin/indicators/<id>/expire        expiration_ts in the past
    GET    /_admin/faults | POST (queue one) | DELETE (clear all)
    GET    /_admin/requests | DELETE             recent API requests (path, params with api_key masked, status)
    POST   /_admin/config                        change next_style, param_auth, visibility_delay_s,
                                                 max_result_window
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from threatmatch.emulator import mutations
from threatmatch.emulator.app import NEXT_STYLES, Emulator, Reply, error
from threatmatch.emulator.faults import Fault

_ACTIONS: dict[str, Callable[[Any, int, int], dict[str, Any]]] = {
    "deactivate": mutations.deactivate,
    "falsepos": mutations.falsepos,
    "expire": mutations.expire,
}


def _ok(data: Any, status: int = 200) -> Reply:
    return Reply(status, orjson.dumps(data))


def _json_body(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the request body is not valid JSON: {exc}") from None


def handle_admin(app: Emulator, method: str, path: str, query: str, body: bytes) -> Reply:
    """Route one admin request; bad input is a 400 with the reason, an unknown id a 404."""
    parts = [p for p in path.split("/") if p][1:]
    try:
        return _route(app, method, parts, _json_body(body) if method in ("POST", "PATCH", "PUT") else {})
    except mutations.UnknownIndicator as exc:
        return error(404, str(exc))
    except ValueError as exc:
        return error(400, str(exc))


def _route(app: Emulator, method: str, parts: list[str], data: Any) -> Reply:
    head = parts[0] if parts else ""
    if head == "state" and method == "GET":
        return _ok(_state(app))
    if head == "indicators":
        return _indicators(app, method, parts[1:], data)
    if head == "faults":
        if method == "GET":
            return _ok(app.faults.pending())
        if method == "DELETE":
            app.faults.clear()
            return _ok([])
        if method == "POST":
            app.faults.add(Fault.from_json(data))
            return _ok(app.faults.pending(), 201)
    if head == "requests":
        if method == "DELETE":
            app.clear_requests()
            return _ok([])
        if method == "GET":
            return _ok(app.requests())
    if head == "config" and method == "POST":
        _configure(app, data)
        return _ok(app.config.public())
    return error(404, f"no admin route {method} /_admin/{'/'.join(parts)}")


def _state(app: Emulator) -> dict[str, Any]:
    dataset = app.dataset
    with dataset.lock:
        return {"indicators": len(dataset), "next_update_id": dataset.next_update_id, "version": dataset.version,
                "mutated": len(dataset.overrides) if dataset.seed is not None else 0,
                "config": app.config.public(), "faults": app.faults.pending()}


def _indicators(app: Emulator, method: str, rest: list[str], data: Any) -> Reply:
    dataset = app.dataset
    now = int(time.time() * 1000)
    if not rest:
        if method != "POST":
            return error(405, "POST /_admin/indicators adds one indicator")
        with dataset.lock:
            return _ok(mutations.add(dataset, _fields(data), now), 201)
    if not rest[0].isdigit():
        return error(404, f"indicator ids are numbers, not {rest[0]!r}")
    ident = int(rest[0])
    with dataset.lock:
        if len(rest) == 1 and method == "GET":
            row = dataset.find(ident)
            if row is None:
                raise mutations.UnknownIndicator(f"no indicator with id {ident}")
            return _ok(dataset.object(row))
        if len(rest) == 1 and method in ("POST", "PATCH"):
            return _ok(mutations.modify(dataset, ident, _fields(data), now))
        if len(rest) == 2 and method == "POST" and rest[1] in _ACTIONS:
            return _ok(_ACTIONS[rest[1]](dataset, ident, now))
    return error(404, f"no admin route {method} /_admin/indicators/{'/'.join(rest)}")


def _fields(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError('send the indicator fields as a JSON object, e.g. {"type": "ip", "value": "203.0.113.9"}')
    return data


def _configure(app: Emulator, data: Any) -> None:
    if not isinstance(data, dict):
        raise ValueError("send the settings as a JSON object")
    config = app.config
    unknown = set(data) - {"next_style", "param_auth", "visibility_delay_s", "max_result_window"}
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    if "next_style" in data:
        if data["next_style"] not in NEXT_STYLES:
            raise ValueError(f"next_style must be one of {', '.join(NEXT_STYLES)}")
        config.next_style = data["next_style"]
    if "param_auth" in data:
        config.param_auth = bool(data["param_auth"])
    if "visibility_delay_s" in data:
        delay = data["visibility_delay_s"]
        if not isinstance(delay, int | float) or delay < 0:
            raise ValueError("visibility_delay_s must be a non-negative number")
        config.visibility_delay_s = float(delay)
    if "max_result_window" in data:
        window = data["max_result_window"]
        if window is not None and (not isinstance(window, int) or window < 1):
            raise ValueError("max_result_window must be a positive integer or null")
        config.max_result_window = window
