"""Indicator scanning inside free-form ``json`` fields (CloudTrail ``requestParameters`` and the like).

A ``json`` field may carry ``scan`` rules: strings under keys matching a glob (``arn``, ``*Arn``,
``instanceId``; case-insensitive, ``*`` only at either end) or starting with a value prefix (``arn:``)
are fed to the named scanners. ``aws_tag`` on a container turns ``[{"key": k, "value": v}]`` or
``{k: v}`` into ``k:v``. The walk is depth-limited and never raises on odd JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from threatmatch.logtypes.scanners import TAG, Pairs, Resolver, resolver
from threatmatch.logtypes.schema import ScanRule

MAX_DEPTH = 48
_MEMO_LIMIT = 20000


PRESETS: dict[str, tuple[ScanRule, ...]] = {
    # Key names used across AWS service APIs (CloudTrail request/response bodies, GuardDuty findings).
    "aws": (
        ScanRule(indicators=("aws_arn",), keys=("arn", "*arn")),
        ScanRule(indicators=("aws_arn",), value_prefix="arn:"),
        ScanRule(indicators=("aws_account_id",), keys=("accountid", "*accountid", "owner", "ownerid")),
        ScanRule(indicators=("aws_instance_id",), keys=("instanceid", "*instanceid")),
        ScanRule(indicators=("ip",), keys=("*ipaddress", "ipaddressv4", "*ipv6address", "*ipv6addresses",
                                           "publicip", "privateip", "sourceip", "*ipaddresses", "cidrip")),
        ScanRule(indicators=("hostname",), keys=("*dnsname", "hostname", "domainname")),
        ScanRule(indicators=("aws_tag",), keys=("tags", "tagset", "tagspecificationset")),
    ),
}


Extend = Callable[[Pairs], None]
_MISSING: Resolver = lambda value: ()  # noqa: E731 - sentinel distinct from every real resolver


def _key_resolvers(rules: tuple[ScanRule, ...]) -> Callable[[str], Resolver | None]:
    exact: dict[str, list[str]] = {}
    suffixes: list[tuple[str, tuple[str, ...]]] = []
    prefixes: list[tuple[str, tuple[str, ...]]] = []
    for rule in rules:
        for glob in rule.keys:
            if glob.startswith("*"):
                suffixes.append((glob[1:], rule.indicators))
            elif glob.endswith("*"):
                prefixes.append((glob[:-1], rule.indicators))
            else:
                exact.setdefault(glob, []).extend(rule.indicators)
    by_names: dict[tuple[str, ...], Resolver] = {}

    def resolve_key(key: str) -> Resolver | None:
        lowered = key.lower()
        names = list(exact.get(lowered, ()))
        names += [n for suffix, inds in suffixes if lowered.endswith(suffix) for n in inds]
        names += [n for prefix, inds in prefixes if lowered.startswith(prefix) for n in inds]
        if not names:
            return None
        unique = tuple(dict.fromkeys(names))
        if unique not in by_names:
            by_names[unique] = resolver(unique)[0]
        return by_names[unique]

    return resolve_key


def _tags(value: Any, extend: Extend) -> None:
    pairs: list[tuple[str, str]] = []
    if value.__class__ is dict:
        for key, item in value.items():
            if item.__class__ is str and (key or item):
                pairs.append((TAG, f"{key}:{item}"))
    elif value.__class__ is list:
        for item in value:
            if item.__class__ is dict:
                key = item.get("key", item.get("Key"))
                val = item.get("value", item.get("Value"))
                if key.__class__ is str and val.__class__ in (str, type(None)):
                    pairs.append((TAG, f"{key}:{val or ''}"))
    if pairs:
        extend(tuple(pairs))


def compile_walker(rules: tuple[ScanRule, ...]) -> Callable[[Any, Extend], None]:
    """A function scanning any JSON value with ``rules``, extending the event's (field, value) pairs."""
    resolve_key = _key_resolvers(rules)
    key_memo: dict[str, Resolver | None] = {}
    prefix_rules = tuple((rule.value_prefix, resolver(rule.indicators)[0]) for rule in rules if rule.value_prefix)
    prefixes = tuple(prefix for prefix, _ in prefix_rules)
    tag_keys = frozenset(g for rule in rules if "aws_tag" in rule.indicators for g in rule.keys)
    memo_get = key_memo.get

    def key_resolver(key: Any) -> Resolver | None:
        found = memo_get(key, _MISSING)
        if found is _MISSING:
            found = resolve_key(key) if key.__class__ is str else None
            if len(key_memo) < _MEMO_LIMIT:
                key_memo[key] = found
        return found

    def scan_string(text: str, resolve: Resolver | None, extend: Extend) -> None:
        if resolve is not None:
            found = resolve(text)
            if found:
                extend(found)
        if prefixes and text.startswith(prefixes):
            for prefix, by_prefix in prefix_rules:
                if text.startswith(prefix):
                    extend(by_prefix(text))

    def walk_dict(value: dict[Any, Any], extend: Extend, depth: int) -> None:
        for key, item in value.items():
            kind = item.__class__
            if kind is str:
                resolve = memo_get(key, _MISSING)
                if resolve is _MISSING:
                    resolve = key_resolver(key)
                if resolve is not None or (prefixes and item.startswith(prefixes)):
                    scan_string(item, resolve, extend)
            elif kind is dict:
                if tag_keys and key.__class__ is str and key.lower() in tag_keys:
                    _tags(item, extend)
                elif depth < MAX_DEPTH:
                    walk_dict(item, extend, depth + 1)
            elif kind is list:
                if tag_keys and key.__class__ is str and key.lower() in tag_keys:
                    _tags(item, extend)
                elif depth < MAX_DEPTH:
                    walk_list(item, key_resolver(key), extend, depth + 1)
            elif kind is int:
                resolve = key_resolver(key)
                if resolve is not None:
                    scan_string(str(item), resolve, extend)

    def walk_list(value: list[Any], resolve: Resolver | None, extend: Extend, depth: int) -> None:
        for item in value:
            kind = item.__class__
            if kind is str:
                scan_string(item, resolve, extend)
            elif kind is dict:
                if depth < MAX_DEPTH:
                    walk_dict(item, extend, depth + 1)
            elif kind is list:
                if depth < MAX_DEPTH:
                    walk_list(item, resolve, extend, depth + 1)
            elif kind is int and resolve is not None:
                scan_string(str(item), resolve, extend)

    def run(value: Any, extend: Extend) -> None:
        kind = value.__class__
        if kind is dict:
            walk_dict(value, extend, 0)
        elif kind is list:
            walk_list(value, None, extend, 0)
        elif kind is str:
            scan_string(value, None, extend)

    return run
