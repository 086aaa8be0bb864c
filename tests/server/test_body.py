"""Ingest bodies: gzip detection, size bounds on both sides of decompression, line splitting that loses nothing."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threatmatch.server.body import decode_body, split_lines
from threatmatch.server.errors import ApiError


class TestDecode:
    def test_plain_body_passes_through(self) -> None:
        """A body without Content-Encoding and without gzip magic is used as-is."""
        assert decode_body(b'{"a":1}\n', None, 100) == b'{"a":1}\n'

    def test_gzip_by_header_or_magic(self) -> None:
        """gzip is recognised from Content-Encoding and from the magic bytes alone."""
        packed = gzip.compress(b"line1\nline2\n")
        assert decode_body(packed, "gzip", 100) == b"line1\nline2\n"
        assert decode_body(packed, None, 100) == b"line1\nline2\n"

    def test_concatenated_members(self) -> None:
        """Two gzip members back to back decode as one stream, like `cat a.gz b.gz`."""
        assert decode_body(gzip.compress(b"a\n") + gzip.compress(b"b\n"), "gzip", 100) == b"a\nb\n"

    def test_zip_bomb_is_refused(self) -> None:
        """Decompression stops at the limit with 413 instead of filling memory."""
        bomb = gzip.compress(b"\0" * 5_000_000)
        with pytest.raises(ApiError) as caught:
            decode_body(bomb, "gzip", 1_000_000)
        assert caught.value.status == 413 and "decompressed body exceeds" in caught.value.message

    def test_corrupt_gzip(self) -> None:
        """A body declared gzip that is not gzip is a 400 naming the problem."""
        with pytest.raises(ApiError) as caught:
            decode_body(b"not gzip at all", "gzip", 100)
        assert caught.value.status == 400 and caught.value.code == "bad_gzip"

    def test_truncated_gzip(self) -> None:
        """A gzip stream cut short is refused as truncated, not silently half-read."""
        packed = gzip.compress(b"x" * 10_000 + b"\n")
        with pytest.raises(ApiError) as caught:
            decode_body(packed[: len(packed) // 2], "gzip", 100_000)
        assert caught.value.code == "bad_gzip"

    def test_unknown_encoding(self) -> None:
        """Encodings other than gzip are refused with 415."""
        with pytest.raises(ApiError) as caught:
            decode_body(b"x", "br", 100)
        assert caught.value.status == 415


class TestSplitLines:
    def test_final_line_without_newline_counts(self) -> None:
        """The last line is kept even without a trailing newline."""
        assert split_lines(b"a\nb") == [b"a", b"b"]

    def test_crlf(self) -> None:
        """Windows line ends are stripped."""
        assert split_lines(b"a\r\nb\r\n") == [b"a", b"b"]

    def test_blank_lines_are_kept_for_numbering(self) -> None:
        """Blank lines stay in place so line numbers match the sender's file."""
        assert split_lines(b"a\n\nb\n") == [b"a", b"", b"b"]

    @given(st.lists(st.binary().filter(lambda b: b"\n" not in b and not b.endswith(b"\r")), max_size=30))
    def test_round_trip(self, lines: list[bytes]) -> None:
        """Joining lines with newlines and splitting them again gives the same lines."""
        assert split_lines(b"".join(line + b"\n" for line in lines)) == lines
