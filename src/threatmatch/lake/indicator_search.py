"""Indicator search over stored events (Panther's "Indicator Search"): SQL text only (pure, no I/O).

Events holding any of a few values in any standard ``p_any_*`` field, enriched or not. Addresses are compared in
canonical form (``2001:DB8::7`` finds ``2001:db8::7``), every other value without case (domains, e-mails, hashes,
user names, ARNs...). Values always go into the SQL as escaped literals.
"""

from __future__ import annotations

import re
from datetime import datetime

from threatmatch.errors import ConfigError
from threatmatch.indicators.normalize import normalize_ip
from threatmatch.lake.naming import quote_literal
from threatmatch.lake.schema import STANDARD_P_ANY

__all__ = ["MAX_INDICATORS", "indicator_condition", "indicator_sql", "indicator_values"]

MAX_INDICATORS = 100
_SEPARATORS = re.compile(r"[\s,]+")


def indicator_values(text: str | None) -> tuple[str, ...]:
    """The values to search for in ``text`` (separated by commas, spaces or new lines): addresses in canonical form,
    the rest lower-cased, duplicates dropped; ``ConfigError`` beyond ``MAX_INDICATORS``."""
    values = [value for value in _SEPARATORS.split(text or "") if value]
    if len(values) > MAX_INDICATORS:
        raise ConfigError(f"{len(values)} indicators to search: at most {MAX_INDICATORS} at once; split the list")
    found = []
    for value in values:
        address = normalize_ip(value)
        found.append(address if address is not None else value.lower())
    return tuple(dict.fromkeys(found))


def indicator_condition(values: tuple[str, ...]) -> str:
    """SQL: any standard ``p_any_*`` field of the row holds one of ``values`` (from ``indicator_values``)."""
    listed = "[" + ", ".join(quote_literal(value) for value in values) + "]"
    tests = [f"list_has_any({column}, {listed})" if column == "p_any_ip_addresses" else
             f"list_has_any(list_transform({column}, lambda x: lower(x)), {listed})" for column in STANDARD_P_ANY]
    return "(" + " OR ".join(tests) + ")"


def indicator_sql(values: tuple[str, ...], *, since: datetime | None = None, log_type: str | None = None) -> str:
    """The events holding any of ``values``, newest first: where and when, the address and domain fields, whether an
    intel provider enriched them, and the event."""
    where = [indicator_condition(values)]
    if since is not None:
        where.append("p_event_time >= TIMESTAMP " + quote_literal(since.strftime("%Y-%m-%d %H:%M:%S.%f")))
    if log_type:
        where.append(f"p_log_type = {quote_literal(log_type)}")
    return ("SELECT p_log_type, p_event_time, p_row_id, p_any_ip_addresses, p_any_domain_names, "
            "coalesce(len(p_enrichment_matches), 0) AS matches, event FROM all_events WHERE " + " AND ".join(where) +
            " ORDER BY p_event_time DESC NULLS LAST, p_row_id")
