"""Indicator scanning inside free-form ``json`` fields (CloudTrail ``requestParameters`` and the like).

A ``json`` field may carry ``scan`` rules: strings under keys matching a glob (``arn``, ``*Arn``,
``instanceId``; case-insensitive, ``*`` only at either end) or starting with a value prefix (``arn:``)
are fed to the named scanners. ``aws_tag`` on a container turns ``[{"key": k, "value": v}]`` or
``{k: v}`` into ``k:v``. The walk is depth-limited and never raises on odd JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from threatmatch.logtypes.scanners import Acc, Scanner, combine, scan_aws_tag
from threatmatch.logtypes.schema import ScanRule

Walker = Callable[[Any, Acc], None]

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


def _key_matcher(rules: tuple[ScanRule, ...]) -> Callable[[str], Scanner | None]:
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
    memo: dict[str, Scanner | None] = {}

    def lookup(key: str) -> Scanner | None:
        found = memo.get(key, memo)
        if found is not memo:
            return found  # type: ignore[return-value]
        lowered = key.lower()
        names = list(exact.get(lowered, ()))
        names += [n for suffix, inds in suffixes if lowered.endswith(suffix) for n in inds]
        names += [n for prefix, inds in prefixes if lowered.startswith(prefix) for n in inds]
        scanner = combine(tuple(dict.fromkeys(names))) if names else None
        if len(memo) < _MEMO_LIMIT:
            memo[key] = scanner
        return scanner

    return lookup


def _tags(value: Any, acc: Acc) -> None:
    if value.__class__ is dict:
        for key, item in value.items():
            if item.__class__ is str:
                scan_aws_tag(f"{key}:{item}", acc)
    elif value.__class__ is list:
        for item in value:
            if item.__class__ is dict:
                key = item.get("key", item.get("Key"))
                val = item.get("value", item.get("Value"))
                if key.__class__ is str and val.__class__ in (str, type(None)):
                    scan_aws_tag(f"{key}:{val or ''}", acc)


def compile_walker(rules: tuple[ScanRule, ...]) -> Walker:
    """A function scanning any JSON value with ``rules``."""
    key_scanner = _key_matcher(rules)
    prefix_rules = tuple((rule.value_prefix, combine(rule.indicators)) for rule in rules if rule.value_prefix)
    tag_keys = frozenset(g for rule in rules if "aws_tag" in rule.indicators for g in rule.keys)

    def scan_string(text: str, scanner: Scanner | None, acc: Acc) -> None:
        if scanner is not None:
            scanner(text, acc)
        for prefix, by_prefix in prefix_rules:
            if text.startswith(prefix):
                by_prefix(text, acc)

    def walk(value: Any, scanner: Scanner | None, acc: Acc, depth: int) -> None:
        kind = value.__class__
        if kind is str:
            scan_string(value, scanner, acc)
        elif kind is dict:
            if depth >= MAX_DEPTH:
                return
            for key, item in value.items():
                if key.__class__ is not str:
                    continue
                if tag_keys and key.lower() in tag_keys:
                    _tags(item, acc)
                    continue
                walk(item, key_scanner(key), acc, depth + 1)
        elif kind is list:
            if depth >= MAX_DEPTH:
                return
            for item in value:
                walk(item, scanner, acc, depth + 1)
        elif kind is int and scanner is not None:
            scanner(str(value), acc)

    def run(value: Any, acc: Acc) -> None:
        walk(value, None, acc, 0)

    return run
