"""threatmatch: a self-hosted threat-intelligence enrichment engine.

Pulls indicators from intel sources (Anomali ThreatStream first), keeps them in lookup tables
keyed by ``match``, and enriches every event of every log type under ``p_enrichment`` before
detection, the way Panther does.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
