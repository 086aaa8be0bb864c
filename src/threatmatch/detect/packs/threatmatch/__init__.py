"""The built-in Anomali ThreatStream rule pack (rule .yml + .py pairs, loaded by threatmatch.detect.load_rules)."""
