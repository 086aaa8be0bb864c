"""Tokenizer for space-separated access-log lines (CLF/combined, ALB, S3 server access).

A token is one of: a bare word; a ``"quoted string"`` (``\\"`` and ``\\\\`` unescaped, other escapes
kept as written); a ``[bracketed]`` value (CLF/S3 time); or ``key="value"`` (Apache extras), which
keeps the key: ``Token(text='value', quoted=True, key='key')``.
"""

from __future__ import annotations

from typing import NamedTuple

from threatmatch.logtypes.parsers.common import Reject


class Token(NamedTuple):
    """One field of a line; ``quoted`` for "..." values, ``bracketed`` for [...] values."""

    text: str
    quoted: bool = False
    bracketed: bool = False
    key: str = ""


def _quoted(line: str, start: int) -> tuple[str, int]:
    """Read a quoted string whose opening quote is at ``start``; return (text, index after closing quote)."""
    pieces: list[str] = []
    index = start + 1
    length = len(line)
    while True:
        close = line.find('"', index)
        slash = line.find("\\", index)
        if close < 0:
            raise Reject(f"unterminated quoted field starting at column {start + 1}")
        if 0 <= slash < close:
            pieces.append(line[index:slash])
            following = line[slash + 1 : slash + 2]
            if following in ('"', "\\"):
                pieces.append(following)
                index = slash + 2
            else:
                pieces.append("\\")
                index = slash + 1
            if index > length:
                raise Reject(f"unterminated quoted field starting at column {start + 1}")
            continue
        pieces.append(line[index:close])
        return "".join(pieces), close + 1


def tokenize(line: str, separator: str = " ") -> list[Token]:
    """Split ``line`` into tokens; Reject on an unterminated quote or bracket."""
    tokens: list[Token] = []
    index = 0
    length = len(line)
    while index < length:
        char = line[index]
        if char == separator or (separator == " " and char == "\t"):
            index += 1
            continue
        if char == '"':
            text, index = _quoted(line, index)
            tokens.append(Token(text, quoted=True))
        elif char == "[":
            close = line.find("]", index + 1)
            if close < 0:
                raise Reject(f"unterminated [bracketed] field starting at column {index + 1}")
            tokens.append(Token(line[index + 1 : close], bracketed=True))
            index = close + 1
        else:
            end = line.find(separator, index)
            if end < 0:
                end = length
            word = line[index:end]
            equals = word.find('="')
            if equals > 0:
                text, index = _quoted(line, index + equals + 1)
                tokens.append(Token(text, quoted=True, key=word[:equals]))
            else:
                tokens.append(Token(word))
                index = end
        if index < length and line[index] not in (separator, "\t") and separator == " ":
            raise Reject(f"expected a space after the field ending at column {index}")
    return tokens
