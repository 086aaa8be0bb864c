"""Indicator values: pure normalisation shared by providers, extraction and matching."""
