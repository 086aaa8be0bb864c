"""Deterministic, realistic indicator rows: the filterable columns are generated up front.

Rows are drawn from ``random.Random(seed)`` in order, so a seed always yields the same dataset. Row ``r``
gets an ``update_id`` and a ``modified_ts`` that both grow with ``r`` (as on the real service, where every
update bumps both), so the update_id order is simply the row order until something is mutated. The rest of
each object is derived on demand from ``(seed, row)`` by ``render.py``.
"""

from __future__ import annotations

import ipaddress
import random
from bisect import bisect
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import TypeVar

from threatmatch.emulator import catalog
from threatmatch.emulator.columns import NULL, Categorical, Columns

DAY_MS = 86_400_000
ANCHOR_MS = 1_748_736_000_000  # 2025-06-01T00:00:00Z: generated history ends here (fixed for determinism)
SPAN_MS = 3 * 365 * DAY_MS  # ...and starts three years earlier
SENTINEL_MS = 253_402_214_400_000  # 9999-12-31T00:00:00.000Z, "never expires"
FAR_FUTURE_MS = 10_998_189_676_995  # 2318-07-09T20:41:16.995Z, a far-future expiry seen in real data
ID_BASE = 50_000_000_000
UPDATE_ID_BASE = 900_000_000
BIG_ID_EVERY = 997  # one row in 997 gets an id above 2**53 (clients must not parse ids as floats)

_SUBTYPES = (("MD5", 45), ("SHA1", 15), ("SHA256", 38), ("SHA512", 2))
_HEX_BITS = {"MD5": 128, "SHA1": 160, "SHA256": 256, "SHA512": 512}
_PRIVATE_NETS = ("10.{}.{}.{}", "192.168.{}.{}", "172.16.{}.{}")
T = TypeVar("T")
_SSDEEP_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _pick(rand: Callable[[], float], items: Sequence[T]) -> T:
    """A uniformly chosen item (cheaper than ``Random.choice``)."""
    return items[int(rand() * len(items))]


def _cumulative(weights: list[int]) -> tuple[list[float], float]:
    cum = list(accumulate(float(w) for w in weights))
    return cum, cum[-1]


class Generator:
    """Fills ``Columns`` with realistic rows; ``seed`` makes every value reproducible."""

    def __init__(self, seed: int, anchor_ms: int = ANCHOR_MS) -> None:
        self.seed = seed
        self.anchor_ms = anchor_ms
        self.choices: list[tuple[catalog.Feed, str]] = []
        weights: list[int] = []
        for feed in catalog.FEEDS:
            total = sum(w for _, w in feed.itypes)
            for itype, weight in feed.itypes:
                self.choices.append((feed, itype))
                weights.append(max(1, feed.weight * weight * 100 // total))
        self.choice_cum, self.choice_total = _cumulative(weights)
        self.sev_cum, self.sev_total = _cumulative([w for _, w in catalog.SEVERITIES])
        self.tlp_cum, self.tlp_total = _cumulative([w for _, w in catalog.TLPS])
        self.sub_cum, self.sub_total = _cumulative([w for _, w in _SUBTYPES])
        self.tld_cum, self.tld_total = _cumulative([w for _, w in catalog.TLDS])

    def fill(self, columns: Columns, count: int) -> None:
        """Append ``count`` generated rows to empty ``columns`` (column by column, for speed)."""
        rnd = random.Random(self.seed)
        rand = rnd.random
        rows = range(count)
        step = max(1, SPAN_MS // max(count, 1))
        start = self.anchor_ms - SPAN_MS
        cats = columns.categories
        num = columns.numbers
        cum, total = self.choice_cum, self.choice_total
        picks = [bisect(cum, rand() * total) for _ in rows]
        chosen = [(feed, itype, catalog.ITYPE_TYPE[itype]) for feed, itype in self.choices]
        roll = [rand() for _ in rows]
        status = [0 if x < 0.85 else 1 if x < 0.97 else 2 for x in roll]
        modified = [start + row * step + int(rand() * step) for row in rows]
        big = BIG_ID_EVERY - 1
        num["id"].extend(2**53 + 1 + 2 * row if row % BIG_ID_EVERY == big else ID_BASE + 4 * row + int(rand() * 4)
                         for row in rows)
        num["update_id"].extend(UPDATE_ID_BASE + 3 * row + int(rand() * 3) for row in rows)
        num["confidence"].extend(-1 if x < 0.05 else int(10 + 91 * x**0.7) for x in (rand() for _ in rows))
        num["feed_id"].extend(map([feed.feed_id for feed, _, _ in chosen].__getitem__, picks))
        num["modified_ts"].extend(modified)
        num["created_ts"].extend(m if rand() < 0.5 else m - int(rand() * 400 * DAY_MS) for m in modified)
        num["expiration_ts"].extend(self._expiry(rnd, st, m) for st, m in zip(status, modified, strict=True))
        self._codes(cats["source"], picks, [feed.source for feed, _, _ in chosen])
        self._codes(cats["itype"], picks, [itype for _, itype, _ in chosen])
        self._codes(cats["type"], picks, [kind for _, _, kind in chosen])
        self._codes(cats["threat_type"], picks, [catalog.THREAT_OF_ITYPE[itype] for _, itype, _ in chosen])
        self._codes(cats["status"], status, ["active", "inactive", "falsepos"])
        sev_cum, sev_total = self.sev_cum, self.sev_total
        self._codes(cats["meta.severity"], [bisect(sev_cum, rand() * sev_total) for _ in rows],
                    [s for s, _ in catalog.SEVERITIES])
        tlp_cum, tlp_total = self.tlp_cum, self.tlp_total
        analyst = {i for i, (feed, _, _) in enumerate(chosen) if feed.feed_id == 0}
        self._codes(cats["tlp"], [1 if p in analyst and rand() < 0.5 else bisect(tlp_cum, rand() * tlp_total)
                                  for p in picks], [t for t, _ in catalog.TLPS])
        hashes = {i for i, (_, _, kind) in enumerate(chosen) if kind == "md5"}
        sub_cum, sub_total = self.sub_cum, self.sub_total
        sub_index = [1 + bisect(sub_cum, rand() * sub_total) if p in hashes else 0 for p in picks]
        sub_labels: list[str | None] = [None, *(s for s, _ in _SUBTYPES)]
        self._codes(cats["subtype"], sub_index, sub_labels)
        value = self.value
        columns.values.extend(
            value(rnd, chosen[p][2], chosen[p][1], sub_labels[sub]) for p, sub in zip(picks, sub_index, strict=True)
        )

    @staticmethod
    def _codes(cat: Categorical, indexes: list[int], labels: list[str | None]) -> None:
        """Append the codes of ``labels[i]`` for each ``i`` in ``indexes`` (one C-level map, no per-row lookup)."""
        table = [cat.code(label) for label in labels]
        cat.codes.extend(map(table.__getitem__, indexes))

    def _expiry(self, rnd: random.Random, status: int, modified: int) -> int:
        if status == 1:  # deactivated: expired shortly before
            return modified - int(rnd.random() * 30 * DAY_MS)
        roll = rnd.random()
        if roll < 0.6:
            return SENTINEL_MS
        if roll < 0.7:
            return FAR_FUTURE_MS
        if roll < 0.97:
            return modified + int((30 + rnd.random() * 700) * DAY_MS)
        return NULL if roll < 0.98 else modified - DAY_MS

    # ---- values ---------------------------------------------------------------------------------

    def value(self, rnd: random.Random, kind: str, itype: str, subtype: str | None) -> str:
        """A realistic observable of ``kind`` (the indicator ``type``)."""
        if kind == "ip":
            return self.ipv4(rnd, private_share=0.02)
        if kind == "domain":
            return self.domain(rnd)
        if kind == "url":
            return self.url(rnd)
        if kind == "email":
            return self.email(rnd)
        if kind == "md5":
            return f"{rnd.getrandbits(_HEX_BITS[subtype or 'MD5']):0{_HEX_BITS[subtype or 'MD5'] // 4}x}"
        if kind == "ipv6":
            return str(ipaddress.IPv6Address((0x2A0 + rnd.getrandbits(4)) << 116 | rnd.getrandbits(64)))
        if itype == "mal_ssdeep":
            return self.ssdeep(rnd)
        template = rnd.choice(catalog.MUTEXES if itype == "mal_mutex" else catalog.FILE_NAMES)
        return template.format(w=rnd.choice(catalog.WORDS).capitalize(), n=rnd.randrange(1000, 99999))

    @staticmethod
    def ipv4(rnd: random.Random, private_share: float = 0.0) -> str:
        if private_share and rnd.random() < private_share:
            return rnd.choice(_PRIVATE_NETS).format(*(rnd.randrange(1, 255) for _ in range(3)))
        bits = rnd.getrandbits(32)
        first = 1 + (bits >> 24) % 223  # unicast, skipping the private and link-local first octets
        if first in (10, 127, 169, 172, 192):
            first += 1
        return f"{first}.{(bits >> 16) & 255}.{(bits >> 8) & 255}.{1 + (bits & 255) % 254}"

    def domain(self, rnd: random.Random) -> str:
        words, rand = catalog.WORDS, rnd.random
        count = len(words)
        tld = catalog.TLDS[bisect(self.tld_cum, rand() * self.tld_total)][0]
        roll = rand()
        if roll < 0.45:
            name = words[int(rand() * count)] + words[int(rand() * count)]
        elif roll < 0.7:
            name = f"{words[int(rand() * count)]}-{words[int(rand() * count)]}{int(rand() * 990) + 10}"
        else:
            name = f"{rnd.getrandbits(48):x}"[: 6 + int(rand() * 6)]
            name = "x" + name if name[0].isdigit() else name
        if rand() < 0.25:
            return f"{catalog.SUBDOMAINS[int(rand() * len(catalog.SUBDOMAINS))]}.{name}.{tld}"
        return f"{name}.{tld}"

    def url(self, rnd: random.Random) -> str:
        rand = rnd.random
        host = self.ipv4(rnd) if rand() < 0.15 else self.domain(rnd)
        if rand() < 0.1:
            host = f"{host}:{_pick(rand, (8080, 8443, 443, 80, 8000))}"
        path = _pick(rand, catalog.URL_PATHS)
        if "{" in path:
            path = path.format(w=_pick(rand, catalog.WORDS), n=100 + int(rand() * 99899))
        return f"{'https' if rand() < 0.55 else 'http'}://{host}{path}"

    def email(self, rnd: random.Random) -> str:
        rand = rnd.random
        local = f"{_pick(rand, catalog.FIRST)}.{_pick(rand, catalog.LAST)}"
        if rand() < 0.4:
            local = f"{local}{1 + int(rand() * 98)}"
        domain = _pick(rand, catalog.FREEMAIL) if rand() < 0.5 else self.domain(rnd)
        return f"{local}@{domain}"

    @staticmethod
    def ssdeep(rnd: random.Random) -> str:
        chars = _SSDEEP_CHARS
        block = rnd.choice((48, 96, 192, 384, 768, 1536, 3072))
        first = "".join(rnd.choice(chars) for _ in range(rnd.randrange(20, 40)))
        second = "".join(rnd.choice(chars) for _ in range(rnd.randrange(10, 20)))
        return f"{block}:{first}:{second}"
