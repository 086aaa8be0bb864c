"""The Enricher: attach ``p_enrichment`` to normalised events (pure, no I/O).

For every event, for every provider enabled for the event's ``p_log_type``, every selector value is
looked up in that provider's current ``TableIndex``::

    p_enrichment[<provider>][<selector key>] = row            # scalar selector value
    p_enrichment[<provider>][<selector key>] = [row, ...]     # array value, event order, misses omitted

``row`` is a fresh copy of the stored row plus ``p_match`` = the event value exactly as it appears in
the event (Panther's "selector value that matched"), not its canonical form. Nothing matched -> no
key at all (no empty objects). Several providers enrich the same event independently.

Selectors are compiled once per (provider, log type); each batch takes every table's ``.current``
index once, so a table swapped mid-batch is seen from the next batch on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from threatmatch.enrich.config import EnrichmentConfig, EnrichmentSettings, default_selectors
from threatmatch.enrich.index import MISSING, Entry, TableIndex
from threatmatch.enrich.live import LiveTable
from threatmatch.enrich.selectors import Getter, LogTypeLike, parse_selector
from threatmatch.errors import ConfigError, NotFoundError, SelectorError

Materialize = Callable[[Entry, Any, datetime], dict[str, Any]]
Resolve = Callable[[str], Entry | None]
Cached = Callable[[str, Any], Any]
CompiledSelector = tuple[str, str | None, Getter | None]  # key, top-level field (fast path), getter
BoundPlan = tuple[tuple[str, Cached, Resolve, Materialize, tuple[CompiledSelector, ...]], ...]


class RegistryLike(Protocol):
    """What the Enricher needs from ``threatmatch.logtypes.LogTypeRegistry``."""

    def get(self, name: str) -> Any: ...


def _text(value: Any) -> str | None:
    """Text used to look up a non-string scalar (integers only; booleans, floats and objects never match)."""
    if value.__class__ is int:
        return str(value)
    return None


class Enricher:
    """Enrich batches of normalised events against named tables.

    ``tables``: provider/table name (the ``p_enrichment`` key) -> ``LiveTable`` (or a bare ``TableIndex``).
    ``config``: an ``EnrichmentConfig`` (read once, now), an ``EnrichmentSettings`` snapshot, or None
    (defaults). ``registry``: gives each log type's indicator fields (default selectors); None or an
    unknown log type -> every ``p_any_*`` field.
    """

    def __init__(self, tables: Mapping[str, LiveTable | TableIndex],
                 config: EnrichmentConfig | EnrichmentSettings | None = None,
                 registry: RegistryLike | None = None) -> None:
        self._tables: dict[str, LiveTable] = {
            name: table if isinstance(table, LiveTable) else LiveTable(table, name=name)
            for name, table in tables.items()
        }
        self._registry = registry
        self._settings = EnrichmentSettings()
        self._selectors: dict[str | None, tuple[tuple[str, tuple[CompiledSelector, ...]], ...]] = {}
        self._p_only: dict[str | None, bool] = {}
        self.reload(config)

    @property
    def tables(self) -> Mapping[str, LiveTable]:
        """The live tables, by name."""
        return self._tables

    def reload(self, config: EnrichmentConfig | EnrichmentSettings | None) -> None:
        """Take new settings (from the database or a snapshot); selectors are recompiled lazily."""
        if isinstance(config, EnrichmentConfig):
            config = config.settings()
        self._settings = config or EnrichmentSettings()
        self._selectors = {}
        self._p_only = {}

    def add_table(self, name: str, table: LiveTable | TableIndex) -> None:
        """Enrich with one more table from the next batch on."""
        self._tables[name] = table if isinstance(table, LiveTable) else LiveTable(table, name=name)
        self._selectors = {}
        self._p_only = {}

    def _log_type(self, name: str | None) -> LogTypeLike | None:
        if self._registry is None or name is None:
            return None
        try:
            found: LogTypeLike = self._registry.get(name)
        except NotFoundError:
            return None
        return found

    def _compile(self, log_type: str | None) -> tuple[tuple[str, tuple[CompiledSelector, ...]], ...]:
        defaults = default_selectors(self._log_type(log_type))
        plan: list[tuple[str, tuple[CompiledSelector, ...]]] = []
        for provider in self._tables:
            setting = self._settings.resolve(provider, log_type or "", defaults)
            if not setting.enabled or not setting.selectors:
                continue
            compiled: list[CompiledSelector] = []
            for text in setting.selectors:
                try:
                    selector = parse_selector(text)
                except SelectorError as exc:
                    raise ConfigError(f"stored selector for {provider} / {log_type} is invalid: {exc}. "
                                      f"Fix it with `threatmatch enrichments set-selectors` or `reset`.") from exc
                field = selector.field
                compiled.append((selector.key, field, None if field is not None else selector.getter()))
            plan.append((provider, tuple(compiled)))
        return tuple(plan)

    def reads_only_p_fields(self, log_type: str | None) -> bool:
        """Every selector enabled for ``log_type`` starts at a top-level ``p_*`` field (as the defaults do).

        Then enriching just the fields the normaliser adds gives exactly what enriching the whole event
        gives, so a caller may keep the rest of the event as raw JSON text.
        """
        known = self._p_only.get(log_type)
        if known is None:
            defaults = default_selectors(self._log_type(log_type))
            known = True
            for provider in self._tables:
                setting = self._settings.resolve(provider, log_type or "", defaults)
                if setting.enabled:
                    for text in setting.selectors:
                        try:
                            first = parse_selector(text).steps[0]
                        except SelectorError:
                            first = None
                        if not (isinstance(first, str) and first.startswith("p_")):
                            known = False
            self._p_only[log_type] = known
        return known

    def _bind(self, log_type: str | None, current: Mapping[str, TableIndex]) -> BoundPlan:
        compiled = self._selectors.get(log_type)
        if compiled is None:
            compiled = self._selectors[log_type] = self._compile(log_type)
        bound = []
        for provider, selectors in compiled:
            index = current.get(provider)
            if index is not None and len(index):
                bound.append((provider, index.cached, index.resolve, index.materialize, selectors))
        return tuple(bound)

    def enrich_batch(self, events: list[dict[str, Any]], now: datetime | None = None) -> list[dict[str, Any]]:
        """Add ``p_enrichment`` to each event (in place) and return the same list.

        ``now`` decides which rows are active/expired (default: the time of the call; naive = UTC).
        """
        if now is None:
            now = datetime.now(UTC)
        elif now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        current = {name: live.current for name, live in self._tables.items()}
        plans: dict[Any, BoundPlan] = {}
        for event in events:
            log_type = event.get("p_log_type")
            if log_type.__class__ is not str:
                log_type = None
            plan = plans.get(log_type)
            if plan is None:
                plan = plans[log_type] = self._bind(log_type, current)
            if not plan:
                continue
            if "p_enrichment" in event:
                _forget(event, plan)
            enrichment: dict[str, Any] | None = None
            for provider, cached, resolve, materialize, selectors in plan:
                found: dict[str, Any] | None = None
                for key, field, getter in selectors:
                    value = event.get(field) if getter is None else getter(event)  # type: ignore[arg-type]
                    if value is None:
                        continue
                    if value.__class__ is list:
                        rows: list[dict[str, Any]] | None = None
                        for item in value:
                            text = item if item.__class__ is str else _text(item)
                            if text is None:
                                continue
                            entry = cached(text, MISSING)
                            if entry is MISSING:
                                entry = resolve(text)
                            if entry is None:
                                continue
                            if rows is None:
                                rows = []
                            rows.append(materialize(entry, item, now))
                        if rows is None:
                            continue
                        result: Any = rows
                    else:
                        text = value if value.__class__ is str else _text(value)
                        if text is None:
                            continue
                        entry = cached(text, MISSING)
                        if entry is MISSING:
                            entry = resolve(text)
                        if entry is None:
                            continue
                        result = materialize(entry, value, now)
                    if found is None:
                        found = {}
                    found[key] = result
                if found is not None:
                    if enrichment is None:
                        enrichment = {}
                    enrichment[provider] = found
            if enrichment is not None:
                existing = event.get("p_enrichment")
                if existing.__class__ is dict:
                    existing.update(enrichment)
                else:
                    event["p_enrichment"] = enrichment
        return events


def _forget(event: dict[str, Any], plan: BoundPlan) -> None:
    """Drop stale results of our providers from an event that already carries ``p_enrichment``."""
    existing = event.get("p_enrichment")
    if existing.__class__ is not dict:
        del event["p_enrichment"]
        return
    for provider, *_ in plan:
        existing.pop(provider, None)
    if not existing:
        del event["p_enrichment"]
