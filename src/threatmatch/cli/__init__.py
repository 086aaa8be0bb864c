"""Command-line interface (Click). ``main.py`` holds the top-level group; each part adds its own module."""
