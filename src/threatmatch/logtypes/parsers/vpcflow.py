"""AWS VPC Flow Logs text records (versions 2-5 and custom formats with a header line).

A header line (``version account-id interface-id srcaddr ...``, as written at the top of each S3
object) sets the column order until the next header. Without one, the record's ``version`` field and
its field count pick the documented all-fields layout of that version (v2 default format = 14 fields).
AWS field names map to Panther's (``srcaddr`` -> ``srcAddr``, ``log-status`` -> ``status``,
``account-id`` -> ``account``); ``-`` means absent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from threatmatch.logtypes.parsers.common import (
    Coercer,
    LineParser,
    ParseResult,
    Reject,
    coerce_into,
    json_object,
    text_lines,
)

NAMES = {
    "version": "version", "account-id": "account", "interface-id": "interfaceId", "srcaddr": "srcAddr",
    "dstaddr": "dstAddr", "srcport": "srcPort", "dstport": "dstPort", "protocol": "protocol",
    "packets": "packets", "bytes": "bytes", "start": "start", "end": "end", "action": "action",
    "log-status": "status", "vpc-id": "vpcId", "subnet-id": "subNetId", "instance-id": "instanceId",
    "tcp-flags": "tcpFlags", "type": "type", "pkt-srcaddr": "pktSrcAddr", "pkt-dstaddr": "pktDstAddr",
    "region": "region", "az-id": "azId", "sublocation-type": "sublocationType", "sublocation-id": "sublocationId",
    "pkt-src-aws-service": "pktSrcAwsService", "pkt-dst-aws-service": "pktDstAwsService",
    "flow-direction": "flowDirection", "traffic-path": "trafficPath",
}
_V2 = ["version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets",
       "bytes", "start", "end", "action", "log-status"]
_V3 = [*_V2, "vpc-id", "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr", "pkt-dstaddr"]
_V4 = [*_V3, "region", "az-id", "sublocation-type", "sublocation-id"]
_V5 = [*_V4, "pkt-src-aws-service", "pkt-dst-aws-service", "flow-direction", "traffic-path"]
LAYOUTS = {"2": _V2, "3": _V3, "4": _V4, "5": _V5}
_HEADER_WORD = re.compile(r"[a-z][a-z0-9-]*")


def schema_name(aws_name: str) -> str:
    """Panther field name for an AWS VPC flow field (camelCase for names we do not list)."""
    known = NAMES.get(aws_name)
    if known is not None:
        return known
    head, *rest = aws_name.split("-")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _is_header(words: list[str]) -> bool:
    return all(_HEADER_WORD.fullmatch(word) for word in words) and any(word in NAMES for word in words)


def vpcflow_parser(log_type: str, typed: dict[str, Coercer]) -> LineParser:
    """Parser following header lines, or the per-version default layouts."""

    def row(words: list[str], header: list[str] | None) -> dict[str, Any]:
        names = header
        if names is None:
            layout = LAYOUTS.get(words[0])
            if layout is None:
                raise Reject(f"no header line and version {words[0][:20]!r} has no default layout "
                             f"(known: {', '.join(LAYOUTS)}); add the format's header line")
            names = [NAMES[name] for name in layout]
            if len(words) != len(names):
                raise Reject(f"expected {len(names)} space-separated fields for {log_type} v{words[0]}, "
                             f"got {len(words)}")
        elif len(words) != len(names):
            raise Reject(f"expected {len(names)} space-separated fields (from the header line), got {len(words)}")
        event: dict[str, Any] = {}
        for name, text in zip(names, words, strict=True):
            if text != "-":
                coerce_into(event, name, text, typed)
        return event

    def parse(lines: Iterable[bytes | str]) -> Iterator[ParseResult]:
        header: list[str] | None = None
        for number, line in text_lines(lines):
            words = line.split()
            if not words:
                continue
            if line[0] == "{":
                yield json_object(number, line)
                continue
            if _is_header(words):
                header = [schema_name(word) for word in words]
                continue
            try:
                yield number, row(words, header), None
            except Reject as exc:
                yield number, None, str(exc)

    return parse
