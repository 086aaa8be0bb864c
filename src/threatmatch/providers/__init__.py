"""Intel providers: sources of indicators that fill lookup tables."""
