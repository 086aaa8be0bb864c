"""Whole indicator objects for generated rows, built on demand from the columns plus ``(seed, row)``.

Everything not kept in a column (uuid, tags, geo, secondary confidences...) is derived from hashes of
``(seed, row)``, so an object is identical every time it is served and nothing else is stored. The members
that depend only on the feed and on one of 256 "profiles" per feed (tags, geo, circles, session...) are
rendered once per profile and reused. For speed a
row is rendered straight to JSON text (one f-string); ``render_object`` parses that text, so the dict and
the served bytes can never disagree. The text is an *open* object (no closing brace): the server appends
the order-dependent ``"sort"`` member.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import orjson

from threatmatch.emulator import catalog
from threatmatch.emulator.columns import NULL, Categorical, Columns
from threatmatch.emulator.generate import FAR_FUTURE_MS, SENTINEL_MS

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_HMS = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}." for s in range(86400)]
_MILLIS = [f"{m:03d}Z" for m in range(1000)]
_days: dict[int, str] = {}
_FEEDS = {feed.source: feed for feed in catalog.FEEDS}
_ID_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"
_MASK = (1 << 64) - 1
_TAG_JSON = [orjson.dumps(name).decode() for name in catalog.TAG_NAMES]
_NET_JSON = [
    f',"asn":"{asn}","org":{orjson.dumps(org).decode()},"country":"{cc}","latitude":{lat},"longitude":{lon}'
    for asn, org, cc, lat, lon in catalog.NETWORKS
]
_NO_GEO = ',"asn":"","org":"","country":null,"latitude":null,"longitude":null'
_VARIANTS = 255  # rows share one of 256 cached "profiles" per feed (tags, geo, circles...)


def iso(ms: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` for epoch milliseconds (ThreatStream's timestamp form)."""
    days, rest = divmod(ms, 86_400_000)
    day = _days.get(days)
    if day is None:
        day = _days[days] = date.fromordinal(_EPOCH_ORDINAL + days).isoformat() + "T"
    seconds, milli = divmod(rest, 1000)
    return day + _HMS[seconds] + _MILLIS[milli]


def bifocals(ms: int, micro: int) -> str:
    """The ``meta.detail2`` text ThreatStream writes when it deactivates an indicator."""
    stamp = iso(ms)
    return f"bifocals_deactivated_on_{stamp[:10]}_{stamp[11:23]}{micro % 1000:03d}"


def row_hashes(salt: int, row: int) -> tuple[int, int]:
    """Two independent 64-bit hashes of ``(salt, row)`` (tuple hashing of ints is stable across runs)."""
    return hash((salt, row)) & _MASK, hash((row, salt, 1)) & _MASK


def _public_ip(h: int) -> str:
    first = 1 + (h % 223)
    if first in (10, 127, 169, 172, 192):
        first += 1
    return f"{first}.{(h >> 8) & 255}.{(h >> 16) & 255}.{1 + ((h >> 24) % 254)}"


def _tags(h: int, h2: int) -> str:
    if (h >> 27) % 20 < 11:
        return "null"
    parts = []
    for i in range((h >> 32) % 3 + 1):
        bits = (h2 >> (i * 16)) & 0xFFFF
        tag_id = _ID_CHARS[bits % 36] + _ID_CHARS[(bits >> 5) % 36] + _ID_CHARS[(bits >> 10) % 36]
        org = ',"org_id":"88"' if bits % 7 == 0 else ""
        parts.append(f'{{"id":"{tag_id}","name":{_TAG_JSON[bits % len(_TAG_JSON)]}{org}}}')
    return "[" + ",".join(parts) + "]"


def _text(value: str | None) -> str:
    if value is None:
        return "null"
    if '"' in value or "\\" in value or not value.isascii() or not value.isprintable():
        return orjson.dumps(value).decode()
    return f'"{value}"'


class _Labels:
    """JSON literals of a categorical column's labels, extended as labels are added."""

    def __init__(self, cat: Categorical) -> None:
        self.cat = cat
        self.json: list[str] = []

    def refresh(self) -> list[str]:
        labels = self.cat.labels
        if len(self.json) != len(labels):
            self.json.extend(_text(label) for label in labels[len(self.json):])
        return self.json


def make_renderer(columns: Columns, seed: int) -> Callable[[Iterable[int]], list[str]]:
    """A function giving the open JSON object texts of generated rows."""
    num, cat = columns.numbers, columns.categories
    ids, uids, confs, feed_ids = num["id"], num["update_id"], num["confidence"], num["feed_id"]
    created, modified, expires = num["created_ts"], num["modified_ts"], num["expiration_ts"]
    names = ("type", "itype", "threat_type", "subtype", "status", "source", "meta.severity", "tlp")
    literals = {name: _Labels(cat[name]) for name in names}
    values = columns.values
    salt = hash((0x7E57_DA7A, seed)) & _MASK  # ints only: str hashing is randomised per process

    kinds: dict[tuple[int, ...], tuple[str, str | None, bool, bool]] = {}
    fixed_expiry = {NULL: "null", SENTINEL_MS: f'"{iso(SENTINEL_MS)}"', FAR_FUTURE_MS: f'"{iso(FAR_FUTURE_MS)}"'}
    profiles: dict[tuple[int, int, bool], tuple[catalog.Feed, str, bool]] = {}

    def kind_part(key: tuple[int, ...]) -> tuple[str, str | None, bool, bool]:
        """JSON of type/itype/threat_type/subtype/status for one code combination (few exist)."""
        t, i, th, su, st = key
        text = (f'"type":{literals["type"].refresh()[t]},"itype":{literals["itype"].refresh()[i]},'
                f'"threat_type":{literals["threat_type"].refresh()[th]},'
                f'"subtype":{literals["subtype"].refresh()[su]},"status":{literals["status"].refresh()[st]},')
        itype = cat["itype"].labels[i]
        kinds[key] = found = (text, cat["type"].labels[t], cat["status"].labels[st] == "inactive",
                              itype in ("mal_md5", "trojan_md5"))
        return found

    def profile_part(key: tuple[int, int, bool], feed_id: int) -> tuple[catalog.Feed, str, bool]:
        """JSON of everything that depends only on (feed, variant, has an address): cached, ~7k exist."""
        code, variant, has_ip = key
        feed = _FEEDS.get(cat["source"].labels[code] or "", catalog.FEEDS[0])
        v, v2 = row_hashes(salt, -1 - variant)
        owner = feed.owner_organization_id
        circles = f"[{146 + (v2 >> 20) % 9000}]" if (v >> 53) % 10 == 0 else "null"
        creator = '"analyst@example.com"' if feed.feed_id == 0 and (v >> 5) & 1 else "null"
        description = _text(catalog.DESCRIPTIONS[v2 % 5]) if (v >> 58) % 16 == 0 else "null"
        session = 1000 + (v2 >> 40) % 4000 if feed.feed_id == 0 and (v >> 56) % 3 else "null"
        keys = f',"import_session_id":{session},"source_created":null,"source_modified":null'
        geo = _NET_JSON[(v2 >> 8) % len(_NET_JSON)] if (v >> 45) % 10 < 8 else _NO_GEO
        if has_ip:
            network = geo + keys
        elif feed.compact:
            network = ',"asn":"","org":"","rdns":null'
        else:
            network = ',"ip":null' + _NO_GEO + ',"rdns":null' + keys
        text = (f'"retina_confidence":{-1 if (v >> 9) % 10 < 7 else (v >> 13) % 101},"tags":{_tags(v, v2)},'
                f'"trusted_circle_ids":{circles},"feed_id":{feed_id},"source":{literals["source"].refresh()[code]},'
                f'"owner_organization_id":{"null" if owner is None else owner},'
                f'"is_public":{"true" if feed.is_public else "false"},"is_anonymous":false,"is_editable":false,'
                '"can_add_public_tags":true,"workgroups":[],"target_industry":[],"locations":[],"source_locations":[],'
                f'"created_by":{creator},"description":{description}{network}')
        profiles[key] = found = (feed, text, geo.startswith(',"asn":"24940"'))
        return found

    def render_rows(rows: Iterable[int]) -> list[str]:
        c_type, c_ity, c_thr, c_sub, c_st = (cat[n].codes for n in ("type", "itype", "threat_type", "subtype",
                                                                     "status"))
        c_src, c_sev, c_tlp = cat["source"].codes, cat["meta.severity"].codes, cat["tlp"].codes
        j_sev, j_tlp = literals["meta.severity"].refresh(), literals["tlp"].refresh()
        maltypes = catalog.MALTYPES

        def render(row: int) -> str:
            h, h2 = row_hashes(salt, row)
            key = (c_type[row], c_ity[row], c_thr[row], c_sub[row], c_st[row])
            kind_text, typ, inactive, hashed = kinds.get(key) or kind_part(key)
            ident, value, conf = ids[row], values[row], confs[row]
            if typ == "ip":
                ip: str | None = value
            elif (typ == "domain" or typ == "url") and (h >> 40) % 100 < 35:
                ip = _public_ip(h2 >> 20)
            else:
                ip = None
            pkey = (c_src[row], (h >> 20) & _VARIANTS, ip is not None)
            feed, profile, hetzner = profiles.get(pkey) or profile_part(pkey, feed_ids[row])
            if ip is None:
                address = ""
            elif hetzner and typ == "ip" and (h >> 50) % 5 == 0:
                address = f',"ip":"{ip}","rdns":"static.{ip}.clients.your-server.de"'
            else:
                address = f',"ip":{_text(ip)},"rdns":null'
            mod, crt, exp = modified[row], created[row], expires[row]
            mod_text = iso(mod)
            hexed = "%016x%016x" % (h, h2)  # noqa: UP031 - twice as fast as format specifiers here
            detail2 = bifocals(mod, h) if inactive else feed.imported_by
            maltype = f',"maltype":"{maltypes[h2 % 8]}"' if hashed else ""
            score = max(0, min(100, conf + (h >> 20) % 41 - 20)) if conf >= 0 else (h >> 20) % 60
            return (
                f'{{"id":{ident},"uuid":"{hexed[:8]}-{hexed[8:12]}-4{hexed[13:16]}-a{hexed[17:20]}-{hexed[20:]}",'
                f'"value":{_text(value)},{kind_text}"confidence":{conf},'
                f'"source_reported_confidence":{conf if (h >> 7) & 3 else (h >> 60) % 101},"threatscore":{score},'
                f'"meta":{{"severity":{j_sev[c_sev[row]]},"detail2":"{detail2}"{maltype}}},'
                f'"tlp":{j_tlp[c_tlp[row]]},"created_ts":"{mod_text if crt == mod else iso(crt)}",'
                f'"modified_ts":"{mod_text}","expiration_ts":{fixed_expiry.get(exp) or chr(34) + iso(exp) + chr(34)},'
                f'"update_id":{uids[row]},"resource_uri":"/api/v2/intelligence/{ident}/",{profile}{address}'
            )

        return [render(row) for row in rows]

    return render_rows


def object_from_text(open_text: str) -> dict[str, Any]:
    """The dict of an open JSON object text produced by a renderer."""
    result: dict[str, Any] = orjson.loads(open_text + "}")
    return result
