"""Enrichment selectors: which event values are looked up, and under which key they are reported.

Three spellings, as in Panther:

* ``p_any_ip_addresses`` (any ``p_any_*`` indicator field): the normalised event's array of values;
  reported under the same name.
* ``$.actor.id``, ``$.request.ipChain[0].ip``, ``$.request.ipChain[*].ip``, ``$['odd.key'].x``: a JSON
  path with dotted (``.name``), index (``[0]``), wildcard (``[*]``, flattens into an array) and quoted
  (``['name']``) steps. Reported under the path without its leading ``$.`` (``actor.id``).
* ``sourceIPAddress`` or ``client.ipAddress`` (no ``$``): a plain field name, dots separating nested
  objects; reported verbatim.

A path that lands on a string is a *scalar* selector (one row in ``p_enrichment``); one that lands
on an array is an *array* selector (a list of rows, non-matching elements omitted). Walking through
an array needs an explicit ``[N]`` or ``[*]`` step (as in Panther's JSON paths).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from threatmatch.errors import SelectorError

# Panther's indicator fields (v1 registry + p_any_actor_ids / mac_addresses / serial_numbers).
P_ANY_FIELDS: tuple[str, ...] = (
    "p_any_actor_ids", "p_any_aws_account_ids", "p_any_aws_arns", "p_any_aws_instance_ids", "p_any_aws_tags",
    "p_any_domain_names", "p_any_emails", "p_any_ip_addresses", "p_any_mac_addresses", "p_any_md5_hashes",
    "p_any_serial_numbers", "p_any_sha1_hashes", "p_any_sha256_hashes", "p_any_trace_ids", "p_any_usernames",
)

Getter = Callable[[Mapping[str, Any]], Any]


class _Wild:
    __slots__ = ()

    def __repr__(self) -> str:
        return "[*]"


WILD = _Wild()
_PLAIN = re.compile(r"[^\s$\[\]]+")
_BRACKET = re.compile(r"\[(?:(\d+)|(\*)|'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\")\]")


class LogTypeLike(Protocol):
    """What selector validation needs from a log type."""

    name: str
    indicator_fields: tuple[str, ...]
    field_paths: tuple[str, ...]


@dataclass(frozen=True)
class Selector:
    """One parsed selector."""

    text: str
    key: str
    kind: str  # "p_any" | "path" | "field"
    steps: tuple[Any, ...]  # str: object key, int: array index, WILD: every element

    @property
    def field(self) -> str | None:
        """The top-level field name when the selector is a single key (fast path), else None."""
        if len(self.steps) == 1 and isinstance(self.steps[0], str):
            return self.steps[0]
        return None

    @property
    def plain_path(self) -> str:
        """``$.a.b`` form without index/wildcard steps (for comparing with a schema's field paths)."""
        return "$" + "".join(f".{step}" for step in self.steps if isinstance(step, str))

    def getter(self) -> Getter:
        """A closure returning the selected value (str, list, other JSON value, or None)."""
        return compile_steps(self.steps)


def _parse_path(text: str) -> tuple[Any, ...]:
    steps: list[Any] = []
    position = 1
    while position < len(text):
        char = text[position]
        if char == ".":
            match = re.compile(r"[^.\[\]]+").match(text, position + 1)
            if match is None:
                raise SelectorError(f"selector {text!r}: empty field name at position {position + 1}; "
                                    "write paths like $.actor.id")
            steps.append(match.group(0))
            position = match.end()
        elif char == "[":
            match = _BRACKET.match(text, position)
            if match is None:
                raise SelectorError(f"selector {text!r}: bad bracket at position {position}; "
                                    "use [0], [*] or ['field name']")
            index, star, single, double = match.groups()
            if index is not None:
                steps.append(int(index))
            elif star is not None:
                steps.append(WILD)
            else:
                steps.append(single if single is not None else double)
            position = match.end()
        else:
            raise SelectorError(f"selector {text!r}: unexpected {char!r} at position {position}; "
                                "steps start with '.' or '['")
    if not steps:
        raise SelectorError(f"selector {text!r} selects the whole event; name a field, e.g. $.sourceIPAddress")
    return tuple(steps)


def parse_selector(text: str) -> Selector:
    """Parse one selector (``p_any_*`` name, ``$.json.path`` or plain field name); SelectorError if bad."""
    if not isinstance(text, str) or not text.strip():
        raise SelectorError("empty selector: give a p_any_* field, a JSON path like $.actor.id, or a field name")
    if text != text.strip():
        raise SelectorError(f"selector {text!r} has leading or trailing spaces")
    if text.startswith("p_any_"):
        if text not in P_ANY_FIELDS:
            hint = difflib.get_close_matches(text, P_ANY_FIELDS, n=1)
            suggestion = f" Did you mean {hint[0]}?" if hint else f" Known: {', '.join(P_ANY_FIELDS)}."
            raise SelectorError(f"unknown indicator field {text!r}.{suggestion}")
        return Selector(text, text, "p_any", (text,))
    if text.startswith("$"):
        steps = _parse_path(text)
        key = text[2:] if text.startswith("$.") else text[1:]
        return Selector(text, key, "path", steps)
    if not _PLAIN.fullmatch(text) or ".." in text or text.startswith(".") or text.endswith("."):
        raise SelectorError(f"selector {text!r} is not a field name; use a JSON path ($.a.b, $['odd name']) "
                            "for names with spaces or brackets")
    return Selector(text, text, "field", tuple(text.split(".")))


def compile_steps(steps: Sequence[Any]) -> Getter:
    """Closure that walks ``steps`` through an event (dicts and lists only; anything else -> None)."""
    if len(steps) == 1 and isinstance(steps[0], str):
        only = steps[0]
        return lambda event: event.get(only)
    if len(steps) == 2 and all(isinstance(step, str) for step in steps):
        first, second = steps

        def two(event: Mapping[str, Any]) -> Any:
            inner = event.get(first)
            return inner.get(second) if type(inner) is dict else None

        return two
    frozen = tuple(steps)
    if WILD in frozen:
        return lambda event: _walk_wild(event, frozen)
    return lambda event: _walk(event, frozen)


def _step(value: Any, step: Any) -> Any:
    if isinstance(step, str):
        return value.get(step) if type(value) is dict else None
    if type(value) is list and -len(value) <= step < len(value):
        return value[step]
    return None


def _walk(value: Any, steps: tuple[Any, ...]) -> Any:
    for step in steps:
        value = _step(value, step)
        if value is None:
            return None
    return value


def _walk_wild(event: Any, steps: tuple[Any, ...]) -> list[Any] | None:
    current: list[Any] = [event]
    for step in steps:
        following: list[Any] = []
        for value in current:
            if step is WILD:
                if type(value) is list:
                    following.extend(value)
            else:
                found = _step(value, step)
                if found is not None:
                    following.append(found)
        current = following
    flat: list[Any] = []
    for value in current:
        if type(value) is list:
            flat.extend(value)
        else:
            flat.append(value)
    return flat or None


def _key_steps(steps: Iterable[Any]) -> tuple[str, ...]:
    """Only the object-key steps (index and wildcard steps dropped): how schema fields are compared."""
    return tuple(step for step in steps if isinstance(step, str))


def _schema_paths(log_type: LogTypeLike) -> dict[tuple[str, ...], str]:
    found: dict[tuple[str, ...], str] = {}
    for path in log_type.field_paths:
        try:
            found[_key_steps(_parse_path(path))] = path
        except SelectorError:
            continue
    return found


def validate_selector(selector: Selector, log_type: LogTypeLike | None) -> None:
    """Check that ``selector`` can select something in ``log_type``'s events; SelectorError otherwise."""
    if log_type is None:
        return
    if selector.kind == "p_any":
        produced = tuple(log_type.indicator_fields)
        if produced and selector.text not in produced:
            raise SelectorError(f"log type {log_type.name} never produces {selector.text}; "
                                f"its indicator fields are: {', '.join(produced)}")
        return
    known = _schema_paths(log_type)
    if not known:
        return  # schema-less log type: any path is allowed
    wanted = _key_steps(selector.steps)
    if wanted in known:
        return
    for length in range(len(wanted) - 1, 0, -1):
        prefix = wanted[:length]
        if prefix in known:
            if not any(len(path) > length and path[:length] == prefix for path in known):
                return  # below a field whose content the schema leaves open (JSON-typed)
            break
    if wanted and wanted[0].startswith("p_"):
        return  # standard p_ fields are on every event
    hint = difflib.get_close_matches(selector.plain_path, list(known.values()), n=3, cutoff=0.6)
    suggestion = f" Did you mean {' or '.join(hint)}?" if hint else ""
    raise SelectorError(f"log type {log_type.name} has no field {selector.text!r}.{suggestion} "
                        "The log type's field paths are listed by `threatmatch log-types show " + log_type.name + "`.")


def parse_selectors(texts: Iterable[str], log_type: LogTypeLike | None = None) -> tuple[Selector, ...]:
    """Parse and validate several selectors; duplicates (same key) are an error."""
    parsed: list[Selector] = []
    seen: set[str] = set()
    for text in texts:
        selector = parse_selector(text)
        validate_selector(selector, log_type)
        if selector.key in seen:
            raise SelectorError(f"selector {text!r} repeats the key {selector.key!r}")
        seen.add(selector.key)
        parsed.append(selector)
    if not parsed:
        raise SelectorError("give at least one selector (or `disable` the provider for this log type)")
    return tuple(parsed)
