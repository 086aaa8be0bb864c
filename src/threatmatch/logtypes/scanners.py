"""Indicator scanners: turn one field value into ``p_any_*`` values (pure, no I/O).

Each scanner takes a string and an accumulator ``acc: dict[str, list[str]]`` and appends what it
finds under the ``p_any_*`` field name. Duplicates are allowed in ``acc``; :func:`finish` de-duplicates
and sorts at the end of an event. Behaviour follows Panther's V1 scanners (see docs/logtypes.md):

* ``ip``: trimmed, kept only when it is an IPv4/IPv6 address, stored **canonical** (our deliberate
  difference: ``2001:DB8::0:1`` -> ``2001:db8::1``) so matching compares addresses, not spellings;
* ``domain``: trimmed, ``xn--`` labels decoded to Unicode, case kept; text with inner spaces
  (``AWS Internal``) is skipped (our addition: such text is never a host name);
* ``hostname``/``url``/``net_addr``: host part routed to ip or domain;
* ``md5``/``sha1``/``sha256``: right length and hex, lower-cased;
* ``email``: trimmed, kept when it contains ``@``;
* ``aws_arn``: a parsable ARN, also yields its 12-digit account id, EC2 instance id and an
  assumed-role session name that is an e-mail address;
* ``aws_account_id`` (12 digits), ``aws_instance_id`` (``i-`` prefix);
* ``aws_tag`` verbatim; ``trace_id``, ``username``, ``actor_id``, ``mac``, ``serial_number`` trimmed.

Our extension ``hashes`` reads a Sysmon-style ``SHA1=..,MD5=..,SHA256=..`` list (or one bare digest)
and routes each digest to its hash field by algorithm name or length.
"""

from __future__ import annotations

import codecs
import ipaddress
import socket
from collections.abc import Callable

Acc = dict[str, list[str]]
Scanner = Callable[[str, Acc], None]

IP = "p_any_ip_addresses"
DOMAIN = "p_any_domain_names"
MD5 = "p_any_md5_hashes"
SHA1 = "p_any_sha1_hashes"
SHA256 = "p_any_sha256_hashes"
EMAIL = "p_any_emails"
ARN = "p_any_aws_arns"
ACCOUNT = "p_any_aws_account_ids"
INSTANCE = "p_any_aws_instance_ids"
TAG = "p_any_aws_tags"
TRACE = "p_any_trace_ids"
USERNAME = "p_any_usernames"
ACTOR = "p_any_actor_ids"
MAC = "p_any_mac_addresses"
SERIAL = "p_any_serial_numbers"

ALL_FIELDS: tuple[str, ...] = tuple(
    sorted((IP, DOMAIN, MD5, SHA1, SHA256, EMAIL, ARN, ACCOUNT, INSTANCE, TAG, TRACE, USERNAME, ACTOR, MAC, SERIAL))
)

_HEXDIGITS = frozenset("0123456789abcdefABCDEF")
_AF_INET = socket.AF_INET
_inet_pton = socket.inet_pton
_DIGITS = frozenset("0123456789")


def _add(acc: Acc, field: str, value: str) -> None:
    found = acc.get(field)
    if found is None:
        acc[field] = [value]
    else:
        found.append(value)


def canonical_ip(text: str) -> str | None:
    """Canonical address text, or None. IPv4 is checked by ``inet_pton`` (strict dotted quad: four decimal
    numbers up to 255, no leading zeros, nothing else, which is already canonical); ``ipaddress`` only for IPv6."""
    if ":" not in text:
        if "." not in text:
            return None
        try:
            _inet_pton(_AF_INET, text)
        except (OSError, ValueError):  # ValueError: NUL or unencodable characters
            return None
        return text
    if len(text) > 64:
        return None
    if text[0] == "[" and text[-1] == "]":
        text = text[1:-1]
    try:
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        return None


def decode_domain(text: str) -> str:
    """Decode ``xn--`` (punycode) labels to Unicode; other labels and the case stay as written."""
    if "xn--" not in text and "XN--" not in text:
        return text
    labels = text.split(".")
    for index, label in enumerate(labels):
        if label[:4].lower() == "xn--":
            try:
                labels[index] = codecs.decode(label[4:].encode("ascii"), "punycode")
            except (UnicodeError, ValueError):
                pass
    return ".".join(labels)


def scan_ip(value: str, acc: Acc) -> None:
    """Valid IPv4/IPv6 address -> ``p_any_ip_addresses`` (canonical)."""
    ip = canonical_ip(value.strip())
    if ip is not None:
        _add(acc, IP, ip)


def _is_name(value: str) -> bool:
    """Non-empty and without inner whitespace (``AWS Internal`` is not a host name)."""
    return bool(value) and " " not in value and "\t" not in value


def scan_domain(value: str, acc: Acc) -> None:
    """Non-empty text without spaces -> ``p_any_domain_names`` (punycode decoded, case kept)."""
    value = value.strip()
    if _is_name(value):
        _add(acc, DOMAIN, decode_domain(value))


def scan_hostname(value: str, acc: Acc) -> None:
    """An IP goes to ``p_any_ip_addresses``; anything else non-empty to ``p_any_domain_names``."""
    value = value.strip()
    if not value:
        return
    ip = canonical_ip(value)
    if ip is not None:
        _add(acc, IP, ip)
    elif _is_name(value):
        _add(acc, DOMAIN, decode_domain(value))


def url_host(value: str) -> str | None:
    """Host of an absolute or scheme-relative URL (userinfo, port and IPv6 brackets removed)."""
    value = value.strip()
    start = value.find("//")
    if start < 0:
        return None
    scheme = value[: start - 1] if start else ""
    if start and (value[start - 1] != ":" or not scheme or not scheme[0].isalpha()):
        return None
    if scheme and not all(ch.isalnum() or ch in "+-." for ch in scheme):
        return None
    rest = value[start + 2 :]
    end = len(rest)
    for stop in "/?#":
        found = rest.find(stop)
        if 0 <= found < end:
            end = found
    authority = rest[:end].rpartition("@")[2]
    if not authority or any(ch <= " " or ch == "\x7f" for ch in authority):
        return None
    if authority[0] == "[":
        close = authority.find("]")
        return authority[1:close] if close > 1 else None
    host, colon, port = authority.rpartition(":")
    if not colon:
        return authority
    if ":" in host or not (port.isdigit() or not port):
        return None
    return host or None


def scan_url(value: str, acc: Acc) -> None:
    """The URL's host -> ip or domain; text that is not a URL with a host yields nothing."""
    host = url_host(value)
    if host:
        scan_hostname(host, acc)


def split_host_port(value: str) -> str:
    """``host:port`` / ``[v6]:port`` -> host; anything else is returned unchanged."""
    if value.startswith("["):
        close = value.find("]")
        if close > 0 and value[close + 1 : close + 2] == ":":
            return value[1:close]
        return value
    host, colon, port = value.rpartition(":")
    if colon and ":" not in host and port.isdigit():
        return host
    return value


def scan_net_addr(value: str, acc: Acc) -> None:
    """``host[:port]`` -> the host routed to ip or domain."""
    scan_hostname(split_host_port(value.strip()), acc)


def _hex_of(value: str, length: int) -> str | None:
    value = value.strip()
    if len(value) == length and _HEXDIGITS.issuperset(value):
        return value.lower()
    return None


def scan_md5(value: str, acc: Acc) -> None:
    """32 hex digits -> ``p_any_md5_hashes`` (lower case)."""
    digest = _hex_of(value, 32)
    if digest:
        _add(acc, MD5, digest)


def scan_sha1(value: str, acc: Acc) -> None:
    """40 hex digits -> ``p_any_sha1_hashes`` (lower case)."""
    digest = _hex_of(value, 40)
    if digest:
        _add(acc, SHA1, digest)


def scan_sha256(value: str, acc: Acc) -> None:
    """64 hex digits -> ``p_any_sha256_hashes`` (lower case)."""
    digest = _hex_of(value, 64)
    if digest:
        _add(acc, SHA256, digest)


_HASH_BY_NAME = {"MD5": (MD5, 32), "SHA1": (SHA1, 40), "SHA256": (SHA256, 64)}
_HASH_BY_LENGTH = {32: MD5, 40: SHA1, 64: SHA256}


def scan_hashes(value: str, acc: Acc) -> None:
    """``ALG=HEX`` pairs separated by commas (Sysmon ``Hashes``) or bare digests (``aa:bb:..`` colons
    allowed, as in Suricata TLS fingerprints), routed by algorithm name or length."""
    for part in value.split(","):
        name, equals, digest = part.partition("=")
        if equals:
            known = _HASH_BY_NAME.get(name.strip().upper())
            if known is not None:
                found = _hex_of(digest, known[1])
                if found:
                    _add(acc, known[0], found)
            continue
        bare = name.strip()
        if ":" in bare:
            bare = bare.replace(":", "")
        field = _HASH_BY_LENGTH.get(len(bare))
        if field is not None and _HEXDIGITS.issuperset(bare):
            _add(acc, field, bare.lower())


def scan_email(value: str, acc: Acc) -> None:
    """Text containing ``@`` -> ``p_any_emails`` (trimmed, case kept)."""
    value = value.strip()
    if "@" in value:
        _add(acc, EMAIL, value)


def is_account_id(value: str) -> bool:
    """Exactly 12 ASCII digits."""
    return len(value) == 12 and _DIGITS.issuperset(value)


def scan_aws_arn(value: str, acc: Acc) -> None:
    """ARN -> ``p_any_aws_arns`` plus its account id, instance id and e-mail session name."""
    value = value.strip()
    if not value.startswith("arn:"):
        return
    parts = value.split(":", 5)
    if len(parts) != 6 or not parts[1] or not parts[2]:
        return
    _add(acc, ARN, value)
    account, resource = parts[4], parts[5]
    if is_account_id(account):
        _add(acc, ACCOUNT, account)
    if resource.startswith("instance/"):
        instance = resource[9:].split("/", 1)[0]
        if instance.startswith("i-"):
            _add(acc, INSTANCE, instance)
    elif resource.startswith("assumed-role/"):
        pieces = resource.split("/")
        if len(pieces) == 3 and "@" in pieces[2]:
            _add(acc, EMAIL, pieces[2])


def scan_aws_arn_only(value: str, acc: Acc) -> None:
    """A parsable ARN -> ``p_any_aws_arns`` only."""
    value = value.strip()
    parts = value.split(":", 5)
    if value.startswith("arn:") and len(parts) == 6 and parts[1] and parts[2]:
        _add(acc, ARN, value)


def scan_aws_account_id(value: str, acc: Acc) -> None:
    """12 digits -> ``p_any_aws_account_ids``."""
    value = value.strip()
    if is_account_id(value):
        _add(acc, ACCOUNT, value)


def scan_aws_instance_id(value: str, acc: Acc) -> None:
    """``i-...`` -> ``p_any_aws_instance_ids``."""
    value = value.strip()
    if value.startswith("i-") and len(value) > 2:
        _add(acc, INSTANCE, value)


def scan_aws_tag(value: str, acc: Acc) -> None:
    """Any non-blank tag text, verbatim -> ``p_any_aws_tags``."""
    if value.strip():
        _add(acc, TAG, value)


def _trimmed(field: str) -> Scanner:
    def scan(value: str, acc: Acc) -> None:
        value = value.strip()
        if value:
            _add(acc, field, value)

    scan.__doc__ = f"Non-blank text, trimmed -> ``{field}``."
    return scan


scan_trace_id = _trimmed(TRACE)
scan_username = _trimmed(USERNAME)
scan_actor_id = _trimmed(ACTOR)
scan_mac = _trimmed(MAC)
scan_serial_number = _trimmed(SERIAL)

# indicator name (as written in a schema) -> (scanner, p_any fields it may produce)
SCANNERS: dict[str, tuple[Scanner, tuple[str, ...]]] = {
    "ip": (scan_ip, (IP,)),
    "domain": (scan_domain, (DOMAIN,)),
    "hostname": (scan_hostname, (IP, DOMAIN)),
    "url": (scan_url, (IP, DOMAIN)),
    "net_addr": (scan_net_addr, (IP, DOMAIN)),
    "md5": (scan_md5, (MD5,)),
    "sha1": (scan_sha1, (SHA1,)),
    "sha256": (scan_sha256, (SHA256,)),
    "hashes": (scan_hashes, (MD5, SHA1, SHA256)),
    "email": (scan_email, (EMAIL,)),
    "aws_arn": (scan_aws_arn, (ARN, ACCOUNT, INSTANCE, EMAIL)),
    "aws_arn_only": (scan_aws_arn_only, (ARN,)),
    "aws_account_id": (scan_aws_account_id, (ACCOUNT,)),
    "aws_instance_id": (scan_aws_instance_id, (INSTANCE,)),
    "aws_tag": (scan_aws_tag, (TAG,)),
    "trace_id": (scan_trace_id, (TRACE,)),
    "username": (scan_username, (USERNAME,)),
    "actor_id": (scan_actor_id, (ACTOR,)),
    "mac": (scan_mac, (MAC,)),
    "serial_number": (scan_serial_number, (SERIAL,)),
}

KNOWN_INDICATORS: tuple[str, ...] = tuple(SCANNERS)


MEMO_LIMIT = 1 << 15
Pairs = tuple[tuple[str, str], ...]
Resolver = Callable[[str], Pairs]


def combine(names: tuple[str, ...]) -> Scanner:
    """One scanner running every named scanner on the same value (names already validated)."""
    scanners = tuple(SCANNERS[name][0] for name in names)

    def scan_all(value: str, acc: Acc) -> None:
        for scan in scanners:
            scan(value, acc)

    return scan_all


def resolver(names: tuple[str, ...]) -> tuple[Resolver, dict[str, Pairs]]:
    """Memoised ``value -> ((p_any field, indicator), ...)`` for the named scanners, and its memo.

    Scanners are pure and log fields repeat the same users, hosts and ARNs, so the hot path first
    looks the value up in the memo (a plain dict, also handed out for inlining) and only calls the
    resolver on a miss. The memo is dropped when it reaches ``MEMO_LIMIT`` entries.
    """
    scan = combine(names)
    memo: dict[str, Pairs] = {}

    def resolve(value: str) -> Pairs:
        found = memo.get(value)
        if found is None:
            fresh: Acc = {}
            scan(value, fresh)
            found = tuple((field, item) for field, items in fresh.items() for item in items)
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            memo[value] = found
        return found

    return resolve, memo


def group(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """``[(field, value), ...]`` -> ``{field: sorted unique values}`` with fields in sorted order."""
    grouped: Acc = {}
    last = None
    values: list[str] = []
    for field, value in sorted(set(pairs)):
        if field == last:
            values.append(value)
        else:
            values = grouped[field] = [value]
            last = field
    return grouped


def finish(acc: Acc) -> dict[str, list[str]]:
    """De-duplicate and sort each field; empty fields never appear (they were never created)."""
    return {field: sorted(set(values)) if len(values) > 1 else values for field, values in acc.items()}


def scan_value(names: tuple[str, ...], value: str) -> dict[str, list[str]]:
    """Run the named scanners on one value and return the finished ``p_any_*`` fields (for tests and tools)."""
    acc: Acc = {}
    combine(names)(value, acc)
    return finish(acc)
