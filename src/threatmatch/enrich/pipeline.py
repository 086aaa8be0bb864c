"""Raw log lines -> normalised, enriched events, with rejects and counts (no file I/O here).

    pipeline = Pipeline(registry, enricher)
    result = pipeline.process("AWS.CloudTrail", lines)           # everything at once
    for batch in pipeline.stream("AWS.CloudTrail", lines):       # bounded memory
        ...

Every record the log type's parser yields is either an event (normalised by the compiled normaliser,
then enriched) or a reject carrying the line number, the reason and the raw line. Counts always
balance: ``read == enriched + rejected``; ``matched`` counts events that received ``p_enrichment``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from threatmatch.enrich.engine import Enricher
from threatmatch.timefmt import panther_ts

DEFAULT_BATCH = 2000
MAX_RAW_CHARS = 64 * 1024  # a reject keeps at most this much of its raw line


class LogTypeLike(Protocol):
    name: str

    def parse(self, lines: Iterable[bytes | str]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]: ...

    def compile_normalizer(self) -> Callable[[dict[str, Any], str, str], dict[str, Any]]: ...


class JsonStateLike(Protocol):
    buffering: bool
    records: str | None
    required: Callable[[dict[str, Any]], str | None] | None

    def emit(self, number: int, value: Any) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]: ...

    def feed(self, number: int, line: bytes | str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]: ...

    def finish(self, number: int) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]: ...


class RegistryLike(Protocol):
    def get(self, name: str) -> Any: ...


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


def _raw_text(line: bytes | str | None) -> str:
    if line is None:
        return ""
    text = line.decode("utf-8", "backslashreplace") if isinstance(line, bytes | bytearray) else line
    text = text.rstrip("\r\n")
    return text if len(text) <= MAX_RAW_CHARS else text[:MAX_RAW_CHARS] + "...(truncated)"


class _Recorder:
    """Passes lines through to the parser and remembers the recent ones, for rejects' raw text."""

    def __init__(self, lines: Iterable[bytes | str]) -> None:
        self._lines = lines
        self.window: list[bytes | str] = []
        self.base = 1  # line number of window[0]

    def __iter__(self) -> Iterator[bytes | str]:
        window = self.window
        for line in self._lines:
            window.append(line)
            yield line

    def raw(self, number: int) -> bytes | str | None:
        position = number - self.base
        return self.window[position] if 0 <= position < len(self.window) else None

    def trim(self, keep_from: int) -> None:
        """Forget lines before ``keep_from`` (a multi-line record may still need later ones)."""
        drop = keep_from - self.base
        if drop > 0:
            del self.window[:drop]
            self.base = keep_from


class Pipeline:
    """Parse -> normalise -> enrich for one log type at a time."""

    def __init__(self, registry: RegistryLike, enricher: Enricher, *,
                 row_ids: Callable[[], str] | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self._registry = registry
        self._enricher = enricher
        if row_ids is None:
            from threatmatch.logtypes.rowid import RowIdGenerator

            row_ids = RowIdGenerator()
        self._row_ids = row_ids
        self._clock = clock or (lambda: datetime.now(UTC))

    @property
    def enricher(self) -> Enricher:
        return self._enricher

    def log_type(self, name: str) -> LogTypeLike:
        """The named log type (NotFoundError with did-you-mean when unknown)."""
        found: LogTypeLike = self._registry.get(name)
        return found

    def process(self, log_type: str, lines: Iterable[bytes | str], *, source: str = "-",
                first_line: int = 1, now: datetime | None = None) -> PipelineResult:
        """The whole input as one result (events in input order)."""
        total = PipelineResult()
        for batch in self.stream(log_type, lines, source=source, first_line=first_line, now=now,
                                 batch_size=1 << 62):
            total.events.extend(batch.events)
            total.rejects.extend(batch.rejects)
            total.add_counts(batch)
        return total

    def stream(self, log_type: str, lines: Iterable[bytes | str], *, source: str = "-", first_line: int = 1,
               now: datetime | None = None, batch_size: int = DEFAULT_BATCH) -> Iterator[PipelineResult]:
        """Results of consecutive batches of about ``batch_size`` records.

        ``first_line``: number of the first line (for chunks of a larger file). ``now``: fixed time for
        parse times and the active/expired decision; default: the clock, read once per batch.
        """
        kind = self.log_type(log_type)
        normalize = kind.compile_normalizer()
        next_id = self._row_ids
        enrich = self._enricher.enrich_batch
        offset = first_line - 1
        recorder = _Recorder(lines)
        batch = PipelineResult()
        moment = now or self._clock()
        parse_time = panther_ts(moment)
        count = 0
        for number, raw, reason in kind.parse(recorder):
            if raw is not None:
                try:
                    batch.events.append(normalize(raw, parse_time, next_id()))
                except Exception as exc:  # a normaliser bug must not lose the record
                    batch.rejects.append(Reject(number + offset, f"normalisation failed: {type(exc).__name__}: {exc}",
                                                _raw_text(recorder.raw(number)), source))
            else:
                batch.rejects.append(Reject(number + offset, reason or "rejected", _raw_text(recorder.raw(number)),
                                            source))
            count += 1
            if count >= batch_size:
                yield self._finish(batch, enrich, moment)
                recorder.trim(number)
                batch = PipelineResult()
                count = 0
                moment = now or self._clock()
                parse_time = panther_ts(moment)
        if count:
            yield self._finish(batch, enrich, moment)

    def stream_lines(self, log_type: str, lines: Iterable[bytes | str], *, source: str = "-", first_line: int = 1,
                     now: datetime | None = None, batch_size: int = DEFAULT_BATCH) -> Iterator[LinesResult]:
        """Like :meth:`stream`, but each batch comes back serialised as JSON lines (``LinesResult.output``).

        The output parses to exactly the events :meth:`stream` gives, in the same order. For a JSON log
        type whose enrichment reads only ``p_*`` fields (the default selectors), a line holding one
        non-empty JSON object without ``p_*`` keys is not re-encoded: the fields the normaliser adds
        (and ``p_enrichment``) are appended to the object's own text. Everything else (wrappers,
        pretty-printed documents, input ``p_*`` keys, other formats, path selectors) takes the dict path.
        """
        kind = self.log_type(log_type)
        make_state = getattr(kind, "json_state", None)
        state: JsonStateLike | None = make_state() if make_state is not None else None
        if state is None or not self._enricher.reads_only_p_fields(kind.name):
            for batch in self.stream(log_type, lines, source=source, first_line=first_line, now=now,
                                     batch_size=batch_size):
                yield LinesResult(rejects=batch.rejects, read=batch.read, enriched=batch.enriched,
                                  matched=batch.matched, rejected=batch.rejected, output=serialize(batch.events))
            return
        yield from self._spliced(kind, state, lines, source, first_line - 1, now, batch_size)

    def _spliced(self, kind: Any, state: JsonStateLike, lines: Iterable[bytes | str], source: str, offset: int,
                 now: datetime | None, batch_size: int) -> Iterator[LinesResult]:
        """The fast output path of :meth:`stream_lines` (see there)."""
        fields = kind.compile_fields()
        normalize = kind.compile_normalizer()
        next_id = self._row_ids
        enrich = self._enricher.enrich_batch
        records, required = state.records, state.required
        loads, decode_error = orjson.loads, orjson.JSONDecodeError
        recorder = _Recorder(lines)
        moment = now or self._clock()
        parse_time = panther_ts(moment)
        raws: list[bytes | None] = []  # the raw line of a spliced event; None: serialise the event itself
        events: list[dict[str, Any]] = []  # the p_* fields of a spliced event, else the whole normalised event
        rejects: list[Reject] = []

        def slow(results: Iterator[tuple[int, dict[str, Any] | None, str | None]]) -> None:
            for number, raw, reason in results:
                if raw is not None:
                    try:
                        events.append(normalize(raw, parse_time, next_id()))
                        raws.append(None)
                    except Exception as exc:  # a normaliser bug must not lose the record
                        rejects.append(Reject(number + offset, f"normalisation failed: {type(exc).__name__}: {exc}",
                                              _raw_text(recorder.raw(number)), source))
                else:
                    rejects.append(Reject(number + offset, reason or "rejected", _raw_text(recorder.raw(number)),
                                          source))

        number = 0
        pending = 0  # records in this batch (events + rejects) before the current line
        for number, line in enumerate(recorder, 1):
            if line.__class__ is not bytes or state.buffering:
                slow(state.feed(number, line))
            else:
                try:
                    value = loads(line)
                except decode_error:
                    slow(state.feed(number, line))
                else:
                    added = None
                    if value.__class__ is dict and value and (records is None or value.get(records).__class__
                                                              is not list) and (required is None or
                                                                                required(value) is None):
                        try:
                            added = fields(value, parse_time, "")
                        except Exception:  # reported by the dict path below
                            added = None
                    if added is None:
                        slow(state.emit(number, value))
                    else:
                        added["p_row_id"] = next_id()  # ids in input order, whichever path an event takes
                        events.append(added)
                        raws.append(line)
                        pending += 1
                        if pending < batch_size:
                            continue
            pending = len(events) + len(rejects)
            if pending >= batch_size:
                yield _splice(raws, events, rejects, enrich, moment)
                recorder.trim(number)
                raws, events, rejects, pending = [], [], [], 0
                moment = now or self._clock()
                parse_time = panther_ts(moment)
        slow(state.finish(number))
        if events or rejects:
            yield _splice(raws, events, rejects, enrich, moment)

    @staticmethod
    def _finish(batch: PipelineResult, enrich: Callable[..., list[dict[str, Any]]], now: datetime) -> PipelineResult:
        enrich(batch.events, now)
        batch.enriched = len(batch.events)
        batch.rejected = len(batch.rejects)
        batch.read = batch.enriched + batch.rejected
        batch.matched = sum(1 for event in batch.events if "p_enrichment" in event)
        return batch


_LINE = orjson.OPT_APPEND_NEWLINE


def serialize(events: list[dict[str, Any]]) -> bytes:
    """JSON lines of ``events`` (UTF-8, one per line)."""
    dumps = orjson.dumps
    out = bytearray()
    for event in events:  # appended one by one: each dumps buffer is freed at once
        out += dumps(event, default=str, option=_LINE)
    return bytes(out)


def _splice(raws: list[bytes | None], events: list[dict[str, Any]], rejects: list[Reject],
            enrich: Callable[..., list[dict[str, Any]]], now: datetime) -> LinesResult:
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
