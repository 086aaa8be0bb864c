"""Reading an ingest body safely: bounded size (compressed and decompressed), gzip by header or magic bytes,
split into lines without losing any (a final line without a newline still counts)."""

from __future__ import annotations

import zlib

from starlette.requests import Request

from threatmatch.logtypes.parsers.common import split_lines
from threatmatch.server.errors import ApiError

__all__ = ["decode_body", "read_body", "split_lines"]

GZIP_MAGIC = b"\x1f\x8b"


def _too_large(limit: int, what: str) -> ApiError:
    return ApiError(413, "too_large", f"{what} exceeds the limit of {limit} bytes ({limit / 1048576:g} MiB): "
                    "split the input into smaller requests (`threatmatch ingest` batches files for you)")


async def read_body(request: Request, limit: int) -> bytes:
    """The raw request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _too_large(limit, f"request body ({declared} bytes)")
        except ValueError:
            raise ApiError(400, "bad_request", f"Content-Length {declared!r} is not a number") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, "request body")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_body(data: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Decompress gzip (declared by Content-Encoding or detected by its magic bytes), at most ``limit`` bytes out."""
    encoding = (content_encoding or "").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        raise ApiError(415, "unsupported_encoding", f"Content-Encoding {content_encoding!r} is not supported: "
                       "send the body plain or gzip-compressed", "Content-Encoding")
    if encoding in ("gzip", "x-gzip") or data.startswith(GZIP_MAGIC):
        return _gunzip(data, limit)
    return data


def _gunzip(data: bytes, limit: int) -> bytes:
    out: list[bytes] = []
    size = 0
    remaining = data
    try:
        while remaining:  # concatenated gzip members are one stream (like `cat a.gz b.gz`)
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            piece = inflater.decompress(remaining, limit + 1 - size)
            while piece:
                out.append(piece)
                size += len(piece)
                if size > limit:
                    raise _too_large(limit, "decompressed body")
                piece = inflater.decompress(inflater.unconsumed_tail, limit + 1 - size)
            if not inflater.eof:
                raise ApiError(400, "bad_gzip", "the gzip body is truncated: the stream ends before its last "
                               "block; re-compress and resend the whole file")
            remaining = inflater.unused_data
    except zlib.error as exc:
        raise ApiError(400, "bad_gzip", f"the body is not valid gzip ({exc}); send plain lines or a .gz stream "
                       "with 'Content-Encoding: gzip'") from None
    return b"".join(out)
