"""A ThreatStream intelligence API emulator: a real HTTP server for tests, demos and benchmarks.

``threatmatch emulator`` runs it from the command line; ``threatmatch.emulator.testing.run_emulator``
starts one inside a test. See docs/emulator.md.
"""
