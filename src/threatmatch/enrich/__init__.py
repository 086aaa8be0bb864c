"""Enrichment engine: match normalised events against lookup tables and attach ``p_enrichment``.

Public surface:

* ``TableIndex`` (frozen matcher of one table) and ``LiveTable`` (the current index, swapped atomically);
* ``Selector`` / ``parse_selector`` (which event values are looked up);
* ``EnrichmentConfig`` (per provider x log type: enabled, selectors; stored in SQLite);
* ``Enricher`` (pure ``enrich_batch``), ``Pipeline`` (raw lines -> enriched events + rejects).
"""

from __future__ import annotations
