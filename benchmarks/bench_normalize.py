"""Normaliser throughput on CloudTrail lines, against plain ``orjson.loads`` + ``orjson.dumps`` of the same lines.

Usage: ``.venv/bin/python benchmarks/bench_normalize.py [--lines N] [--repeat R]``

Input: the real CloudTrail events in ``../shared/realdata/logs/panther-analysis-tests/AWS.CloudTrail.jsonl``
(their ``p_*`` fields stripped) plus the Stratus Red Team records, cycled up to N lines. Prints events/s for
(a) the baseline loads+dumps, (b) the normaliser alone on decoded events, (c) loads + normalise + dumps,
and the ratio (c)/(a) which the enrichment target needs to keep at >= 0.5. Times are this process's CPU
time (best of R), so other work on a shared machine disturbs the ratio less.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from threatmatch.logtypes import LogTypeRegistry, RowIdGenerator

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "realdata" / "logs"


def cloudtrail_lines() -> list[bytes]:
    """Real CloudTrail records as one compact JSON line each (``p_*`` keys removed)."""
    lines: list[bytes] = []
    tests = SHARED / "panther-analysis-tests" / "AWS.CloudTrail.jsonl"
    for raw in tests.read_bytes().splitlines():
        event = orjson.loads(raw)
        lines.append(orjson.dumps({k: v for k, v in event.items() if not k.startswith("p_")}))
    for path in sorted((SHARED / "aws-cloudtrail").rglob("*.json")):
        try:
            records = orjson.loads(path.read_bytes())["Records"]
        except (orjson.JSONDecodeError, KeyError):
            continue  # one real export is malformed JSON; the parser tests cover it
        lines.extend(orjson.dumps(record) for record in records)
    return lines


def best_of(repeat: int, run: Callable[[], None], setup: Callable[[], None] | None = None) -> float:
    """Best CPU time of ``repeat`` runs; ``setup`` (untimed) runs before each."""
    timings = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.process_time()
        run()
        timings.append(time.process_time() - start)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sample = cloudtrail_lines()
    lines = (sample * (args.lines // len(sample) + 1))[: args.lines]
    size = sum(map(len, lines)) / len(lines)
    normalize = LogTypeRegistry.load().get("AWS.CloudTrail").compile_normalizer()
    next_id = RowIdGenerator()
    parse_time = "2024-05-01 10:00:00.000"
    loads, dumps = orjson.loads, orjson.dumps

    def baseline() -> None:
        for line in lines:
            dumps(loads(line))

    decoded: list[dict[str, object]] = []

    def decode() -> None:  # fresh events each run: the normaliser adds fields in place
        decoded[:] = [loads(line) for line in lines]

    def normalise_only() -> None:
        for event in decoded:
            normalize(event, parse_time, next_id())

    def end_to_end() -> None:
        for line in lines:
            dumps(normalize(loads(line), parse_time, next_id()))

    base = best_of(args.repeat, baseline)
    only = best_of(args.repeat, normalise_only, decode)
    full = best_of(args.repeat, end_to_end)
    count = len(lines)
    print(f"CloudTrail lines: {count} (avg {size:.0f} bytes, {len(sample)} distinct real records)")
    print(f"baseline orjson loads+dumps : {count / base:>10,.0f} events/s  ({base / count * 1e6:.2f} us/event)")
    print(f"normaliser only             : {count / only:>10,.0f} events/s  ({only / count * 1e6:.2f} us/event)")
    print(f"loads + normalise + dumps   : {count / full:>10,.0f} events/s  ({full / count * 1e6:.2f} us/event)")
    print(f"ratio end-to-end / baseline : {base / full:.2f}x  (target >= 0.5x)")


if __name__ == "__main__":
    main()
