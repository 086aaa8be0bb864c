"""End-to-end enrichment benchmark (one command).

    .venv/bin/python benchmarks/bench_enrich.py [--events 1000000] [--indicators 1000000] [--cidrs 50000]

Generates, with a fixed seed:

* a ThreatStream-shaped lookup table: ``--indicators`` rows (IPv4 40 %, domain 25 %, md5/sha1/sha256
  25 %, e-mail 10 %; 1 % of values also get a second, inactive row) plus ``--cidrs`` CIDR rows
  (/20 to /32, some overlapping; about 0.5 % of the IPv4 space);
* ``--events`` CloudTrail-like JSON lines (a few hundred principals, ARNs and user agents; source IPs
  from a 20k-address client pool, fresh public addresses and AWS service names); about 2 % carry a
  listed IP, 1 % an IP inside a listed CIDR, 0.5 % a listed domain as TLS host header.

Then measures, in the same run, on one core unless stated (single-core figures are this process's CPU
time, so other work on a shared machine disturbs them less; the worker comparison is wall-clock):

1. baseline: ``orjson.loads`` + ``orjson.dumps`` of every line;
2. table load: ``TableIndex.build`` from ``(match values, row bytes)`` pairs (what the lookup store
   yields), seconds per million rows, and the matcher's heap per indicator (growth of the process's
   anonymous RSS; the rows themselves are spooled to a memory-mapped file and reported separately);
3. ours, end to end: parse -> normalise (p_any_*, p_row_id, times) -> match -> serialise to JSON lines
   (``Pipeline.stream_lines``, what ``threatmatch enrich`` writes); events/s and the ratio to the baseline;
   the enrichment step alone; the library API (event dicts, then serialised); a stage breakdown;
4. ``--workers``: the same from the file with 1 process and with 2 forked workers sharing the table;
5. a table swap during a run: a thread builds a full new index and swaps it in while the main thread
   keeps enriching; longest gap between batch completions vs the median.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from threatmatch.enrich.engine import Enricher
from threatmatch.enrich.index import TableIndex
from threatmatch.enrich.live import LiveTable
from threatmatch.enrich.pipeline import Pipeline
from threatmatch.enrich.workers import ChunkResult, WorkerPool, chunk_lines, run_chunk, serialize
from threatmatch.logtypes import LogTypeRegistry
from threatmatch.runtime import tune_for_bulk_work

LOG_TYPE = "AWS.CloudTrail"
ITYPES = {"ip": "mal_ip", "domain": "c2_domain", "md5": "mal_md5", "sha1": "mal_sha1", "sha256": "mal_sha256",
          "email": "phish_email", "cidr": "scan_ip"}
SERVICES = ["s3", "ec2", "iam", "sts", "lambda", "kms", "dynamodb", "logs", "cloudtrail", "sqs"]
EVENTS = ["GetObject", "PutObject", "DescribeInstances", "AssumeRole", "GetCallerIdentity", "ListBuckets",
          "Decrypt", "Invoke", "PutItem", "CreateLogStream", "ConsoleLogin", "GetSecretValue"]
AGENTS = ["aws-cli/2.15.{n} Python/3.11.6 Linux/6.1 exe/x86_64.ubuntu.22", "Boto3/1.34.{n} md/Botocore#1.34.{n}",
          "aws-sdk-go-v2/1.24.{n} os/linux lang/go#1.21.5", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) "
          "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{n} Safari/605.1.15", "console.amazonaws.com",
          "terraform-provider-aws/5.{n}.0 (+https://registry.terraform.io)"]


# ---------------------------------------------------------------------------------------------- data


def _public_ip(rng: random.Random) -> str:
    first = rng.choice([3, 13, 18, 23, 34, 44, 52, 54, 63, 81, 91, 101, 142, 151, 185, 193, 203, 212])
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def make_indicators(count: int, cidrs: int, seed: int) -> tuple[list[tuple[list[str], bytes]], dict[str, list[str]]]:
    """ThreatStream-like rows as (match values, row bytes) pairs, and samples of values to plant in events."""
    rng = random.Random(seed)
    pairs: list[tuple[list[str], bytes]] = []
    samples: dict[str, list[str]] = {"ip": [], "domain": [], "cidr": [], "email": []}
    kinds = ["ip"] * 40 + ["domain"] * 25 + ["md5"] * 8 + ["sha1"] * 6 + ["sha256"] * 11 + ["email"] * 10
    dumps = orjson.dumps
    for number in range(count + cidrs):
        if number < count:
            kind = kinds[number % 100]
            if kind == "ip":
                value = _public_ip(rng)
            elif kind == "domain":
                label = rng.choice(["cdn", "mail", "update", "api"])
                value = f"{rng.getrandbits(40):x}-{label}.{rng.choice(['com', 'net', 'ru', 'xyz', 'top'])}"
            elif kind == "email":
                domain = rng.choice(["gmail.com", "mail.ru", "proton.me", "example.org"])
                value = f"user{rng.getrandbits(32):x}@{domain}"
            else:
                bits = {"md5": 128, "sha1": 160, "sha256": 256}[kind]
                value = f"{rng.getrandbits(bits):0{bits // 4}x}"
        else:
            kind = "cidr"
            prefix = rng.choice([20, 22, 24, 24, 24, 24, 26, 27, 28, 29, 30, 32])
            address = rng.randrange(1 << 24, 224 << 24)
            network = (address >> (32 - prefix)) << (32 - prefix)
            value = f"{network >> 24}.{(network >> 16) & 255}.{(network >> 8) & 255}.{network & 255}/{prefix}"
        if kind in samples and len(samples[kind]) < 5000 and rng.random() < 0.05:
            samples[kind].append(value)
        row = {
            "id": 400000000 + number, "value": value, "type": "ip" if kind == "cidr" else kind, "itype": ITYPES[kind],
            "status": "active", "confidence": rng.randrange(20, 100), "source": "Benchmark Feed",
            "feed_id": "336", "threat_type": "malware", "country": "US", "is_public": False,
            "created_ts": "2026-10-01 10:35:52.302", "modified_ts": "2026-11-01 10:35:52.302",
            "expiration_ts": "2027-02-01 13:35:49", "tags": [{"name": "bench", "tlp": "amber"}],
            "match": [value],
        }
        # exact-size copies, as a database cursor yields them (orjson's own bytes keep a ~4 KiB allocation)
        pairs.append(([value], bytes(memoryview(dumps(row)))))
        if rng.random() < 0.01:  # an older, inactive duplicate
            older = {**row, "id": row["id"] + 10**8, "status": "inactive", "confidence": 90}
            pairs.append(([value], bytes(memoryview(dumps(older)))))
    return pairs, samples


def _principals(rng: random.Random) -> list[dict[str, Any]]:
    found = []
    for n in range(300):
        account = f"{rng.randrange(10**11, 10**12)}"
        role = rng.choice(["Admin", "ReadOnly", "Deploy", "Lambda", "DataEng", "Audit"]) + str(n)
        session = rng.choice(["alice", "bob", "ci", "i-0" + f"{rng.getrandbits(60):015x}", "terraform"])
        found.append({
            "type": "AssumedRole", "principalId": f"AROA{rng.getrandbits(64):016X}:{session}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}", "accountId": account,
            "accessKeyId": f"ASIA{rng.getrandbits(64):016X}",
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": f"AROA{rng.getrandbits(64):016X}",
                                                 "arn": f"arn:aws:iam::{account}:role/{role}", "accountId": account,
                                                 "userName": role},
                               "attributes": {"creationDate": "2026-11-20T08:00:00Z", "mfaAuthenticated": "false"}},
        })
    return found


def make_events(count: int, samples: dict[str, list[str]], seed: int, path: Path) -> None:
    """Write ``count`` CloudTrail-like JSON lines to ``path``."""
    rng = random.Random(seed + 1)
    principals = _principals(rng)
    clients = [_public_ip(rng) for _ in range(20000)]
    buckets = [f"corp-{rng.choice(['logs', 'data', 'backup', 'web'])}-{n}" for n in range(200)]
    dumps = orjson.dumps
    with open(path, "wb") as out:
        for number in range(count):
            roll = rng.random()
            if roll < 0.02 and samples["ip"]:
                source = rng.choice(samples["ip"])
            elif roll < 0.03 and samples["cidr"]:
                network, prefix = rng.choice(samples["cidr"]).split("/")
                base = int.from_bytes(bytes(int(x) for x in network.split(".")), "big")
                address = base + rng.randrange(1 << (32 - int(prefix)))
                source = ".".join(str((address >> s) & 255) for s in (24, 16, 8, 0))
            elif roll < 0.08:
                source = rng.choice(SERVICES) + ".amazonaws.com"
            elif roll < 0.6:
                source = clients[int(len(clients) * rng.random() ** 3)]  # skewed: a few busy clients
            else:
                source = _public_ip(rng)
            service = rng.choice(SERVICES)
            bucket = rng.choice(buckets)
            host = rng.choice(samples["domain"]) if rng.random() < 0.005 and samples["domain"] else \
                f"{bucket}.s3.us-east-1.amazonaws.com"
            principal = rng.choice(principals)
            event = {
                "eventVersion": "1.09", "userIdentity": principal,
                "eventTime": f"2026-11-23T{number // 3600000 % 24:02d}:{number // 60000 % 60:02d}:"
                             f"{number // 1000 % 60:02d}.{number % 1000:03d}Z",
                "eventSource": f"{service}.amazonaws.com", "eventName": rng.choice(EVENTS),
                "awsRegion": rng.choice(["us-east-1", "us-west-2", "eu-west-1"]), "sourceIPAddress": source,
                "userAgent": rng.choice(AGENTS).format(n=rng.randrange(40)),
                "requestParameters": {"bucketName": bucket, "key": f"year=2026/part-{rng.getrandbits(32):08x}.parquet",
                                      "Host": host},
                "responseElements": None, "requestID": f"{rng.getrandbits(64):016X}",
                "eventID": f"{rng.getrandbits(128):032x}", "readOnly": True,
                "resources": [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/part"},
                              {"accountId": principal["accountId"], "type": "AWS::S3::Bucket",
                               "ARN": f"arn:aws:s3:::{bucket}"}],
                "eventType": "AwsApiCall", "managementEvent": False, "recipientAccountId": principal["accountId"],
                "eventCategory": "Data",
                "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                               "clientProvidedHostHeader": host},
            }
            out.write(dumps(event, option=orjson.OPT_APPEND_NEWLINE))


# ---------------------------------------------------------------------------------------------- measures


def rss_anon() -> int:
    """Anonymous resident memory of this process in bytes (heap; file-backed mappings excluded)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


def timed(label: str, func: Callable[[], Any], *, wall: bool = False) -> tuple[float, Any]:
    """Run ``func``; seconds of this process's CPU time (wall clock when ``wall``: several processes)."""
    gc.collect()
    clock = time.perf_counter if wall else time.process_time
    started = clock()
    result = func()
    seconds = clock() - started
    print(f"  {label}: {seconds:.2f} s {'wall' if wall else 'CPU'}", flush=True)
    return seconds, result


def baseline(lines: list[bytes]) -> int:
    loads, dumps = orjson.loads, orjson.dumps
    total = 0
    for line in lines:
        total += len(dumps(loads(line)))
    return total


def ours(pipeline: Pipeline, lines: list[bytes]) -> tuple[int, int]:
    """What ``threatmatch enrich`` and its workers run: batches serialised to JSON lines."""
    total = matched = 0
    for batch in pipeline.stream_lines(LOG_TYPE, lines):
        total += len(batch.output)
        matched += batch.matched
    return total, matched


def ours_dicts(pipeline: Pipeline, lines: list[bytes]) -> tuple[int, int]:
    """The library API: batches of event dicts (what the service's ingest uses), then serialised."""
    total = matched = 0
    for batch in pipeline.stream(LOG_TYPE, lines):
        total += len(serialize(batch.events))
        matched += batch.matched
    return total, matched


def file_lines(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        yield from handle


def run_file(make_pipeline: Callable[[], Pipeline], path: Path, workers: int) -> int:
    """Enrich the whole file to nowhere with ``workers`` processes; returns events enriched."""
    done = [0]

    def on_result(result: ChunkResult) -> None:
        done[0] += result.counts[1]

    if workers == 1:
        pipeline = make_pipeline()
        for first, data in chunk_lines(file_lines(path)):
            on_result(run_chunk(pipeline, LOG_TYPE, str(path), first, data))
        return done[0]
    with WorkerPool(make_pipeline, workers) as pool:
        pool.run(LOG_TYPE, str(path), chunk_lines(file_lines(path)), on_result)
        for pid in pool.pids:
            memory = smaps(pid)
            print(f"  worker {pid}: private {memory.get('Private', 0) / 1e6:,.0f} MB, "
                  f"shared {memory.get('Shared', 0) / 1e6:,.0f} MB, PSS {memory.get('Pss', 0) / 1e6:,.0f} MB")
    return done[0]


def smaps(pid: int | None) -> dict[str, int]:
    """Private / shared / proportional resident bytes of a process (Linux smaps_rollup)."""
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                name, _, rest = line.partition(":")
                parts = rest.split()
                if len(parts) == 2 and parts[1] == "kB":
                    found[name] = int(parts[0]) * 1024
    except OSError:
        return {}
    found["Private"] = found.get("Private_Clean", 0) + found.get("Private_Dirty", 0)
    found["Shared"] = found.get("Shared_Clean", 0) + found.get("Shared_Dirty", 0)
    return found


def swap_during_run(enricher: Enricher, live: LiveTable, pairs: list[tuple[list[str], bytes]],
                    pipeline: Pipeline, lines: list[bytes], spool: Path) -> dict[str, float]:
    """Enrich ``lines`` in batches while another thread builds and swaps a new index."""
    stamps: list[float] = []
    swapped_at: list[float] = []
    build_window: list[float] = []

    def rebuild() -> None:
        time.sleep(0.5)
        build_window.append(time.perf_counter())
        fresh = TableIndex.build(pairs, name=live.name, spool_dir=spool)
        build_window.append(time.perf_counter())
        swapped_at.append(time.perf_counter())
        previous = live.swap(fresh, grace_s=2.0)  # batches using the old index finish meanwhile
        del previous  # freed here, in the builder thread, not in a reader's batch

    thread = threading.Thread(target=rebuild)
    stamps.append(time.perf_counter())
    thread.start()
    while thread.is_alive() or len(stamps) < 20:
        for batch in pipeline.stream(LOG_TYPE, lines, batch_size=1000):
            serialize(batch.events)
            stamps.append(time.perf_counter())
            if not thread.is_alive() and len(stamps) > 20 and stamps[-1] - swapped_at[0] > 3.0:
                break
    thread.join()
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    during = [b - a for a, b in zip(stamps, stamps[1:], strict=False) if build_window[0] <= b <= swapped_at[0] + 0.2]
    return {"batches": len(gaps), "median_gap_ms": statistics.median(gaps) * 1000,
            "max_gap_ms": max(gaps) * 1000, "median_gap_during_build_ms": statistics.median(during) * 1000
            if during else 0.0, "build_s": build_window[1] - build_window[0]}


class TimedEnricher(Enricher):
    """The real Enricher, adding up the CPU time spent in ``enrich_batch`` (to isolate the matching step)."""

    seconds = 0.0

    def enrich_batch(self, events: list[dict[str, Any]], now: Any = None) -> list[dict[str, Any]]:
        started = time.process_time()
        try:
            return super().enrich_batch(events, now)
        finally:
            self.seconds += time.process_time() - started


def breakdown(registry: LogTypeRegistry, sample: list[bytes], baseline_per_event: float) -> None:
    """Where the end-to-end time goes, per event: the serialising path without tables (parse, p_* fields,
    splice), then the dict path's parse + normalise and serialise stages, in batches."""
    bare = Pipeline(registry, Enricher({}, None, registry))
    gc.collect()
    started = time.process_time()
    for _ in bare.stream_lines(LOG_TYPE, sample):
        pass
    per_event = (time.process_time() - started) / len(sample)
    print(f"  parse + p_* fields + splice, no tables (stream_lines): {per_event * 1e6:.2f} us per event = "
          f"{per_event / baseline_per_event:.2f}x the whole baseline")
    gc.collect()
    normalise_s = serialise_s = 0.0
    batches = bare.stream(LOG_TYPE, sample)
    while True:
        started = time.process_time()
        batch = next(batches, None)
        parsed = time.process_time()
        if batch is None:
            break
        serialize(batch.events)
        normalise_s += parsed - started
        serialise_s += time.process_time() - parsed
    for label, seconds in (("dict path: parse + normalise (no tables)", normalise_s),
                           ("dict path: serialise", serialise_s)):
        per_event = seconds / len(sample)
        print(f"  {label}: {per_event * 1e6:.2f} us per event = {per_event / baseline_per_event:.2f}x "
              "the whole baseline")


def throughput(pipeline: Pipeline, enricher: TimedEnricher, registry: LogTypeRegistry, lines: list[bytes]) -> None:
    """Baseline vs ours on one core, the enrichment share, and the stage breakdown."""
    print("throughput, one core, same lines in memory", flush=True)
    base_s, _ = timed("baseline orjson loads+dumps", lambda: baseline(lines))
    ours_s, (_, matched) = timed("ours parse->normalise->match->serialise", lambda: ours(pipeline, lines))
    base_rate = len(lines) / base_s
    ours_rate = len(lines) / ours_s
    print(f"  baseline {base_rate:,.0f} events/s ({base_s / len(lines) * 1e6:.2f} us per event); "
          f"ours {ours_rate:,.0f} events/s ({ours_s / len(lines) * 1e6:.2f} us per event); "
          f"ratio {ours_rate / base_rate:.2f} (target >= 0.5, stretch 0.8); matched {matched:,} "
          f"({matched / len(lines):.1%})")
    per_event = enricher.seconds / len(lines)
    print(f"  of which enrich_batch: {per_event * 1e6:.2f} us per event = {per_event / (base_s / len(lines)):.2f}x "
          "the whole baseline", flush=True)
    sample = lines[:200_000]
    dict_s, _ = timed("library API (events as dicts, then serialised)", lambda: ours_dicts(pipeline, sample))
    ratio = base_s / len(lines) * len(sample) / dict_s
    print(f"  library API: {len(sample) / dict_s:,.0f} events/s, ratio {ratio:.2f}",
          flush=True)
    breakdown(registry, lines[:200_000], base_s / len(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--indicators", type=int, default=1_000_000)
    parser.add_argument("--cidrs", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-workers", action="store_true", help="skip the 1 vs 2 worker comparison")
    parser.add_argument("--skip-swap", action="store_true", help="skip the swap-during-run measurement")
    parser.add_argument("--skip-throughput", action="store_true", help="skip the single-core throughput runs")
    args = parser.parse_args(argv)
    tune_for_bulk_work()  # as `threatmatch enrich` does
    print(f"garbage collector thresholds {gc.get_threshold()} (those of `threatmatch enrich`)")

    work = Path(tempfile.mkdtemp(prefix="bench-enrich-"))
    events_file = work / "cloudtrail.jsonl"
    print(f"generating {args.indicators:,} indicators + {args.cidrs:,} CIDRs and {args.events:,} events "
          f"(seed {args.seed}) in {work}", flush=True)
    _, (pairs, samples) = timed("indicators", lambda: make_indicators(args.indicators, args.cidrs, args.seed))
    timed("events", lambda: make_events(args.events, samples, args.seed, events_file))
    lines = events_file.read_bytes().splitlines()
    size = events_file.stat().st_size
    # The generated inputs (millions of tuples and lines) exist only in this benchmark: keep the cyclic
    # collector from re-scanning them, as a service does with its start-up state.
    gc.collect()
    gc.freeze()
    print(f"  events file: {size / 1e6:,.0f} MB, {size / len(lines):,.0f} bytes per line", flush=True)

    print("table load", flush=True)
    gc.collect()
    before = rss_anon()
    load_s, index = timed("TableIndex.build", lambda: TableIndex.build(pairs, name="anomali", spool_dir=work))
    gc.collect()
    heap = rss_anon() - before
    rows = index.stats.rows
    print(f"  rows {rows:,}, distinct values {index.stats.keys:,}, CIDR blocks {index.stats.cidr_blocks:,}, "
          f"shared values {index.stats.shared_keys:,}")
    print(f"  load: {load_s / rows * 1e6:.2f} s per million rows (target <= 3)")
    print(f"  matcher heap: {heap / rows:.0f} bytes per row (RSS growth; target <= 300); "
          f"estimate by object sizes {index.heap_bytes() / rows:.0f}")
    print(f"  row store: {index.stats.row_bytes / rows:.0f} bytes per row in a memory-mapped file "
          f"(page cache, shared by workers; spooled={index.stats.spooled})")
    parent = smaps(os.getpid())
    print(f"  this process: private {parent.get('Private', 0) / 1e6:,.0f} MB, RSS {parent.get('Rss', 0) / 1e6:,.0f} MB "
          f"(includes the generated rows and events)", flush=True)

    registry = LogTypeRegistry.load()
    live = LiveTable(index)
    enricher = TimedEnricher({"anomali": live}, None, registry)

    def make_pipeline() -> Pipeline:
        return Pipeline(registry, enricher)

    pipeline = make_pipeline()
    if not args.skip_throughput:
        throughput(pipeline, enricher, registry, lines)

    if not args.skip_workers:
        print("workers (from the file, output discarded)", flush=True)
        rates = {}
        for workers in (1, 2):
            seconds, done = timed(f"{workers} worker(s)", lambda w=workers: run_file(make_pipeline, events_file, w),
                                  wall=True)
            rates[workers] = done / seconds
            print(f"  {workers} worker(s): {rates[workers]:,.0f} events/s")
        print(f"  speed-up with 2 workers: {rates[2] / rates[1]:.2f}x (cores: {len(os.sched_getaffinity(0))})")

    if not args.skip_swap:
        print("table swap during a run (builder thread, batches of 1000)", flush=True)
        result = swap_during_run(enricher, live, pairs, pipeline, lines[:200_000], work)
        print(f"  {result['batches']} batches; median gap {result['median_gap_ms']:.1f} ms, during the rebuild "
              f"{result['median_gap_during_build_ms']:.1f} ms, longest {result['max_gap_ms']:.1f} ms; "
              f"rebuild took {result['build_s']:.2f} s; generation now {live.generation}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
