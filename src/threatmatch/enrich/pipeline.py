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
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from threatmatch.enrich.batches import (
    Finish,
    LinesResult,
    PipelineResult,
    R,
    Reject,
    TextsResult,
    raw_text,
    serialize,
    splice_batch,
    texts_batch,
)
from threatmatch.enrich.engine import Enricher
from threatmatch.timefmt import panther_ts

__all__ = ["DEFAULT_BATCH", "LinesResult", "Pipeline", "PipelineResult", "Reject", "TextsResult", "serialize"]

DEFAULT_BATCH = 2000


class LogTypeLike(Protocol):
    name: str

    def parse(self, lines: Iterable[bytes | str]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]: ...

    def compile_normalizer(self) -> Callable[[dict[str, Any], str, str], dict[str, Any]]: ...


class JsonStateLike(Protocol):
    buffering: bool
    records: str | None
    check: Callable[[dict[str, Any]], str | None] | None
    rewrites: bool

    def emit(self, number: int, value: Any) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]: ...

    def feed(self, number: int, line: bytes | str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]: ...

    def finish(self, number: int) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]: ...


class RegistryLike(Protocol):
    def get(self, name: str) -> Any: ...


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
                                                raw_text(recorder.raw(number)), source))
            else:
                batch.rejects.append(Reject(number + offset, reason or "rejected", raw_text(recorder.raw(number)),
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
        state = self._splice_state(kind)
        if state is None:
            for batch in self.stream(log_type, lines, source=source, first_line=first_line, now=now,
                                     batch_size=batch_size):
                yield LinesResult(rejects=batch.rejects, read=batch.read, enriched=batch.enriched,
                                  matched=batch.matched, rejected=batch.rejected, output=serialize(batch.events))
            return
        yield from self._spliced(kind, state, lines, source, first_line - 1, now, batch_size, splice_batch,
                                 keep_values=False)

    def stream_texts(self, log_type: str, lines: Iterable[bytes | str], *, source: str = "-", first_line: int = 1,
                     now: datetime | None = None, batch_size: int = DEFAULT_BATCH) -> Iterator[TextsResult]:
        """Like :meth:`stream` (the same enriched event dicts), plus each event's JSON text without
        ``p_enrichment`` (``TextsResult.texts``) where :meth:`stream_lines` would reuse the line's own text: the
        raw object with the normaliser's fields appended. Stores that keep the event as JSON use it instead of
        encoding the dict again. Other events (and every event of a log type :meth:`stream_lines` cannot
        splice) have None there.
        """
        kind = self.log_type(log_type)
        state = self._splice_state(kind)
        if state is None:
            for batch in self.stream(log_type, lines, source=source, first_line=first_line, now=now,
                                     batch_size=batch_size):
                yield TextsResult(events=batch.events, rejects=batch.rejects, read=batch.read,
                                  enriched=batch.enriched, matched=batch.matched, rejected=batch.rejected,
                                  texts=[None] * len(batch.events))
            return
        yield from self._spliced(kind, state, lines, source, first_line - 1, now, batch_size, texts_batch,
                                 keep_values=True)

    def _splice_state(self, kind: Any) -> JsonStateLike | None:
        """A fresh JSON parser state when ``kind``'s lines may be spliced (a JSON log type whose enrichment reads
        only ``p_*`` fields and whose check leaves events as decoded), else None: the dict path."""
        make_state = getattr(kind, "json_state", None)
        state: JsonStateLike | None = make_state() if make_state is not None else None
        if state is None or state.rewrites or not self._enricher.reads_only_p_fields(kind.name):
            return None
        return state

    def _spliced(self, kind: Any, state: JsonStateLike, lines: Iterable[bytes | str], source: str, offset: int,
                 now: datetime | None, batch_size: int, finish: Finish[R], *, keep_values: bool) -> Iterator[R]:
        """The fast path of :meth:`stream_lines` and :meth:`stream_texts` (see there): ``finish`` enriches and
        assembles each batch. ``keep_values``: hand ``finish`` the decoded lines too (else they are freed at
        once: a batch of them kept alive costs the serialising path about a sixth in allocator and GC work)."""
        fields = kind.compile_fields()
        normalize = kind.compile_normalizer()
        next_id = self._row_ids
        enrich = self._enricher.enrich_batch
        records, check = state.records, state.check
        loads, decode_error = orjson.loads, orjson.JSONDecodeError
        recorder = _Recorder(lines)
        moment = now or self._clock()
        parse_time = panther_ts(moment)
        raws: list[bytes | None] = []  # the raw line of a spliced event; None: serialise the event itself
        values: list[dict[str, Any] | None] = []  # with keep_values, the decoded line of a spliced event, else None
        events: list[dict[str, Any]] = []  # the p_* fields of a spliced event, else the whole normalised event
        rejects: list[Reject] = []

        def slow(results: Iterator[tuple[int, dict[str, Any] | None, str | None]]) -> None:
            for number, raw, reason in results:
                if raw is not None:
                    try:
                        events.append(normalize(raw, parse_time, next_id()))
                        raws.append(None)
                        values.append(None)
                    except Exception as exc:  # a normaliser bug must not lose the record
                        rejects.append(Reject(number + offset, f"normalisation failed: {type(exc).__name__}: {exc}",
                                              raw_text(recorder.raw(number)), source))
                else:
                    rejects.append(Reject(number + offset, reason or "rejected", raw_text(recorder.raw(number)),
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
                                                              is not list) and (check is None or
                                                                                check(value) is None):
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
                        values.append(value if keep_values else None)
                        pending += 1
                        if pending < batch_size:
                            continue
            pending = len(events) + len(rejects)
            if pending >= batch_size:
                yield finish(raws, values, events, rejects, enrich, moment)
                recorder.trim(number)
                raws, values, events, rejects, pending = [], [], [], [], 0
                moment = now or self._clock()
                parse_time = panther_ts(moment)
        slow(state.finish(number))
        if events or rejects:
            yield finish(raws, values, events, rejects, enrich, moment)

    @staticmethod
    def _finish(batch: PipelineResult, enrich: Callable[..., list[dict[str, Any]]], now: datetime) -> PipelineResult:
        enrich(batch.events, now)
        batch.enriched = len(batch.events)
        batch.rejected = len(batch.rejects)
        batch.read = batch.enriched + batch.rejected
        batch.matched = sum(1 for event in batch.events if "p_enrichment" in event)
        return batch
