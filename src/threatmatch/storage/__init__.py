"""Embedded storage: SQLite database (config, lookup tables), secrets at rest."""
