"""Anomali ThreatStream: configuration, API client, query grammar and lookup-table rows."""
