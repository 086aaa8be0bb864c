"""One enriched batch as the pipeline hands it out, and how a batch of spliced events is finished.

``PipelineResult`` (event dicts), ``LinesResult`` (JSON lines text) and ``TextsResult`` (event dicts plus each
event's own JSON text) all carry the batch's rejects and counts (``read == enriched + rejected``). The finishers
take what ``Pipeline._spliced`` collected: for each event either its raw line, its decoded line and the fields the
normaliser adds (spliced), or a whole normalised event (``raw`` None); they enrich the batch and assemble it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

import orjson

MAX_RAW_CHARS = 64 * 1024  # a reject keeps at most this much of its raw line
R = TypeVar("R", bound="PipelineResult", covariant=True)


def raw_text(line: bytes | str | None) -> str:
    """A rejected line as a reject keeps it: text (undecodable bytes escaped), without its line end, at most
    ``MAX_RAW_CHARS`` characters."""
    if line is None:
        return ""
    text = line.decode("utf-8", "backslashreplace") if isinstance(line, bytes | bytearray) else line
    text = text.rstrip("\r\n")
    return text if len(text) <= MAX_RAW_CHARS else text[:MAX_RAW_CHARS] + "...(truncated)"


@dataclass(frozen=True)
class Reject:
    """One input record that could not become an event."""

    line: int
    reason: str
    raw: str
    source: str = "-"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the rejects file."""
        return {"file": self.source, "line": self.line, "reason": self.reason, "raw": self.raw}

    def json_line(self) -> bytes:
        """This reject as one line of a rejects file (``enrich --rejects``, ``ingest --rejects``)."""
        return orjson.dumps(self.as_dict(), option=orjson.OPT_APPEND_NEWLINE)


@dataclass
class PipelineResult:
    """Events and rejects of one batch (or a whole input), with counts."""

    events: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    read: int = 0
    enriched: int = 0
    matched: int = 0
    rejected: int = 0

    def add_counts(self, other: PipelineResult) -> None:
        """Add ``other``'s counts to this result's (events and rejects are not copied)."""
        self.read += other.read
        self.enriched += other.enriched
        self.matched += other.matched
        self.rejected += other.rejected


@dataclass
class LinesResult(PipelineResult):
    """A batch already serialised: ``output`` holds its events as JSON lines, in input order.

    ``events`` stays empty (the events exist only as text); counts and rejects are as in ``PipelineResult``.
    """

    output: bytes = b""


@dataclass
class TextsResult(PipelineResult):
    """A batch as enriched event dicts (as in ``PipelineResult``) plus, per event, its JSON text without
    ``p_enrichment`` when the line's own text could be reused (``texts[i]`` None: serialise ``events[i]``)."""

    texts: list[bytes | None] = field(default_factory=list)


class Finish(Protocol[R]):
    """Enriches one collected batch and assembles its result (``splice_batch``, ``texts_batch``)."""

    def __call__(self, raws: list[bytes | None], values: list[dict[str, Any] | None], events: list[dict[str, Any]],
                 rejects: list[Reject], enrich: Callable[..., list[dict[str, Any]]], now: datetime) -> R: ...


_LINE = orjson.OPT_APPEND_NEWLINE


def serialize(events: list[dict[str, Any]]) -> bytes:
    """JSON lines of ``events`` (UTF-8, one per line)."""
    dumps = orjson.dumps
    out = bytearray()
    for event in events:  # appended one by one: each dumps buffer is freed at once
        out += dumps(event, default=str, option=_LINE)
    return bytes(out)


def splice_batch(raws: list[bytes | None], values: list[dict[str, Any] | None], events: list[dict[str, Any]],
            rejects: list[Reject], enrich: Callable[..., list[dict[str, Any]]], now: datetime) -> LinesResult:
    """Enrich one batch and write it: a raw line gets its added fields spliced in before its final ``}``."""
    enrich(events, now)
    dumps = orjson.dumps
    out = bytearray()
    matched = 0
    for raw, event in zip(raws, events, strict=True):
        if "p_enrichment" in event:
            matched += 1
        if raw is None:
            out += dumps(event, default=str, option=_LINE)
        else:
            # ``raw`` decoded as one non-empty object: its last "}" closes it (only whitespace may follow)
            out += memoryview(raw)[: raw.rindex(b"}")]
            out += b","
            out += memoryview(dumps(event, default=str, option=_LINE))[1:]
    return LinesResult(rejects=rejects, read=len(events) + len(rejects), enriched=len(events), matched=matched,
                       rejected=len(rejects), output=bytes(out))


def texts_batch(raws: list[bytes | None], values: list[dict[str, Any] | None], events: list[dict[str, Any]],
            rejects: list[Reject], enrich: Callable[..., list[dict[str, Any]]], now: datetime) -> TextsResult:
    """Merge a spliced event's line and fields into its event dict and keep its text; then enrich the batch."""
    dumps = orjson.dumps
    texts: list[bytes | None] = []
    merged: list[dict[str, Any]] = []
    for raw, value, added in zip(raws, values, events, strict=True):
        if raw is None or value is None:
            texts.append(None)
            merged.append(added)
        else:  # the text before enrichment adds p_enrichment: exactly what a store keeps as the event
            texts.append(raw[: raw.rindex(b"}")] + b"," + dumps(added, default=str)[1:])
            value.update(added)
            merged.append(value)
    enrich(merged, now)
    matched = sum(1 for event in merged if "p_enrichment" in event)
    return TextsResult(events=merged, rejects=rejects, read=len(merged) + len(rejects), enriched=len(merged),
                       matched=matched, rejected=len(rejects), texts=texts)
