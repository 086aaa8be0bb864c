"""Lake write throughput on enriched CloudTrail events, against ``orjson.dumps`` of the same events.

Usage: ``.venv/bin/python benchmarks/bench_lake.py [--events N] [--batch B] [--repeat R]``

Input: the real CloudTrail records of ``../shared/realdata/logs/panther-analysis-tests/AWS.CloudTrail.jsonl``
normalised by the AWS.CloudTrail log type, cycled up to N events spread over 24 hours, one in 20 carrying a
ThreatStream ``p_enrichment``. Prints events/s for
(a) the baseline: ``orjson.dumps`` of every event (serialising alone, no disk),
(b) one ``Lake.write_events`` call with all N events (write-through, files fsynced),
(c) N/B calls of B events into a buffered Lake (``buffer_rows=50_000``) then ``flush``,
the ratios (b)/(a) and (c)/(a), the bytes on disk, and the time of two searches over the result.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from threatmatch.home import Home
from threatmatch.lake import Lake
from threatmatch.logtypes import LogTypeRegistry, RowIdGenerator
from threatmatch.timefmt import panther_ts

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "realdata" / "logs"
PROVIDER = "Anomali ThreatStream"
START = datetime(2024, 5, 1, tzinfo=UTC)


def _enrichment(ip: str, n: int) -> dict[str, Any]:
    row = {"id": 230000000 + n, "value": ip, "type": "ip", "itype": "c2_ip" if n % 2 else "mal_ip",
           "status": "active", "confidence": 50 + n % 50, "source": "Analyst", "threat_type": "c2",
           "modified_ts": "2024-04-06T09:56:22.915Z", "expiration_ts": "9999-12-31T00:00:00.000Z",
           "meta": {"severity": "high"}, "tags": None, "p_match": ip}
    return {PROVIDER: {"p_any_ip_addresses": [row]}}


def enriched_events(count: int) -> list[dict[str, Any]]:
    """``count`` normalised CloudTrail events over 24 hours, 5% of them enriched."""
    records = [orjson.loads(line) for line in
               (SHARED / "panther-analysis-tests" / "AWS.CloudTrail.jsonl").read_bytes().splitlines()]
    records = [{k: v for k, v in r.items() if not k.startswith("p_")} for r in records]
    normalize = LogTypeRegistry.load().get("AWS.CloudTrail").compile_normalizer()
    next_id = RowIdGenerator()
    events = []
    step = timedelta(days=1) / count
    for n in range(count):
        raw = dict(records[n % len(records)])
        raw["eventTime"] = (START + n * step).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        event = normalize(raw, panther_ts(START + n * step + timedelta(seconds=3)), next_id())
        if n % 20 == 0:
            event["p_enrichment"] = _enrichment(str(raw.get("sourceIPAddress") or "203.0.113.50"), n)
        events.append(event)
    return events


def best_of(repeat: int, run: Callable[[], object], setup: Callable[[], object] | None = None) -> float:
    """Fastest of ``repeat`` timed runs (``setup`` runs untimed before each)."""
    timings = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    events = enriched_events(args.events)
    workdir = Path(tempfile.mkdtemp(prefix="bench-lake-"))
    home = Home(workdir / "home")

    def reset() -> None:
        shutil.rmtree(home.root, ignore_errors=True)
        home.ensure()

    def whole() -> None:
        Lake(home).write_events("AWS.CloudTrail", events)

    def batched() -> None:
        with Lake(home, buffer_rows=50_000) as lake:
            for start in range(0, len(events), args.batch):
                lake.write_events("AWS.CloudTrail", events[start:start + args.batch])

    dumps = orjson.dumps
    baseline = best_of(args.repeat, lambda: [dumps(e) for e in events])
    one_call = best_of(args.repeat, whole, reset)
    buffered = best_of(args.repeat, batched, reset)
    size = sum(p.stat().st_size for p in home.lake.rglob("*.parquet"))
    json_size = sum(len(dumps(e)) for e in events)
    lake = Lake(home)
    count_s = best_of(args.repeat, lambda: lake.search("SELECT count(*) FROM aws_cloudtrail"))
    c2_s = best_of(args.repeat, lambda: lake.search(
        "SELECT p_row_id, m.match FROM aws_cloudtrail, unnest(p_enrichment_matches) AS t(m) "
        "WHERE m.row->>'itype' LIKE 'c2_%'", limit=100_000))
    n = len(events)
    print(f"events: {n} enriched CloudTrail ({n // 20} with p_enrichment), 24 hour partitions")
    print(f"(a) orjson.dumps baseline      {n / baseline:12,.0f} events/s")
    print(f"(b) write_events, one call     {n / one_call:12,.0f} events/s   ratio b/a = {baseline / one_call:.2f}")
    label = f"(c) buffered, {args.batch}-event calls"
    print(f"{label:31}{n / buffered:12,.0f} events/s   ratio c/a = {baseline / buffered:.2f}")
    print(f"on disk: {size / 1e6:.1f} MB Parquet (zstd) vs {json_size / 1e6:.1f} MB as JSON lines")
    print(f"search: count(*) {count_s * 1000:.0f} ms, c2 matches via unnest {c2_s * 1000:.0f} ms")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
