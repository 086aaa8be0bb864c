"""CIDR longest-prefix matching agrees with a brute-force scan."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from threatmatch.enrich.cidr import CidrTable


def _brute(blocks: dict[tuple[int, int], str], address: int, bits: int) -> str | None:
    best: tuple[int, str] | None = None
    for (network, prefix), label in blocks.items():
        if address >> (bits - prefix) == network >> (bits - prefix) and (best is None or prefix > best[0]):
            best = (prefix, label)
    return None if best is None else best[1]


def _blocks(bits: int, space: int) -> st.SearchStrategy[dict[tuple[int, int], str]]:
    """Random blocks crowded into a small corner of the address space so they overlap a lot."""
    def make(pairs: list[tuple[int, int]]) -> dict[tuple[int, int], str]:
        found: dict[tuple[int, int], str] = {}
        for raw, prefix in pairs:
            network = (raw >> (bits - prefix)) << (bits - prefix)
            found[(network, prefix)] = f"{network}/{prefix}"
        return found
    low = bits - space
    return st.lists(st.tuples(st.integers(0, (1 << space) - 1).map(lambda r: r + (7 << space)),
                              st.integers(low, bits)), max_size=40).map(make)


@settings(max_examples=250, deadline=None)
@given(_blocks(32, 12), st.lists(st.integers(0, (1 << 16) - 1).map(lambda r: r + (7 << 12) - 2000), max_size=60))
def test_ipv4_longest_prefix_equals_brute_force(blocks: dict[tuple[int, int], str], addresses: list[int]) -> None:
    """For any set of IPv4 blocks and any address, the table returns the longest containing block."""
    table = CidrTable.build(((n, p, label) for (n, p), label in blocks.items()), bits=32)
    for address in addresses + [n for n, _ in blocks] + [n - 1 for n, _ in blocks if n]:
        assert table.lookup(address) == _brute(blocks, address, 32)


@settings(max_examples=120, deadline=None)
@given(_blocks(128, 20), st.lists(st.integers(0, (1 << 22) - 1).map(lambda r: r + (7 << 20) - 5000), max_size=60))
def test_ipv6_longest_prefix_equals_brute_force(blocks: dict[tuple[int, int], str], addresses: list[int]) -> None:
    """The same holds for 128-bit IPv6 addresses."""
    table = CidrTable.build(((n, p, label) for (n, p), label in blocks.items()), bits=128)
    for address in addresses + [n for n, _ in blocks]:
        assert table.lookup(address) == _brute(blocks, address, 128)


def test_whole_space_and_host_blocks() -> None:
    """A /0 catches everything; a /32 inside it wins for its own address only; edges are exact."""
    table = CidrTable.build([(0, 0, "all"), (0x0A000000, 8, "ten"), (0x0A000001, 32, "host")], bits=32)
    assert table.lookup(0) == "all"
    assert table.lookup(0x09FFFFFF) == "all"
    assert table.lookup(0x0A000000) == "ten"
    assert table.lookup(0x0A000001) == "host"
    assert table.lookup(0x0A000002) == "ten"
    assert table.lookup(0x0AFFFFFF) == "ten"
    assert table.lookup(0x0B000000) == "all"
    assert table.lookup((1 << 32) - 1) == "all"


def test_empty_table_matches_nothing() -> None:
    """No blocks, no match."""
    assert CidrTable.build([], bits=32).lookup(12345) is None
