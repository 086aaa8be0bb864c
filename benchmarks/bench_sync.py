"""How fast a ThreatStream sync runs on the client side, and whether readers notice the table swap.

Run: .venv/bin/python benchmarks/bench_sync.py [--indicators 1000000] [--seed 1]

In one run:
  1. starts the emulator (`threatmatch emulator`, a separate process) with N indicators on loopback;
  2. fetches every page once (keyset on update_id, 1000 per page, the provider's query) and keeps the bytes;
  3. baseline: plain ``orjson.loads`` of those page bytes;
  4. end-to-end sync from the live emulator (wall time, time waiting on the network, time in our code);
  5. client-side sync: the same sync served from the kept bytes (no network), i.e. decode + normalise +
     store + index + swap, while a separate reader process queries the table continuously;
  6. the client-side stages on their own: page decode + row building in this process, the same in the
     sync's helper processes, and the store alone (load, index, sync to disk, swap).
Reports indicators/s, the ratio client-side / baseline, the machine's load, and what the reader saw
during the sync and swap (generations, row counts actually scanned, errors, longest single read).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from threatmatch.home import Home
from threatmatch.providers.threatstream.client import _PAGE_DECODER, ThreatStreamClient
from threatmatch.providers.threatstream.config import make_config
from threatmatch.providers.threatstream.row_worker import PageRowIds, RowBuilders, build_page
from threatmatch.providers.threatstream.rows import page_objects
from threatmatch.providers.threatstream.source import MAX_WORKERS, available_cores
from threatmatch.storage.db import connect
from threatmatch.storage.lookup_store import LookupStore
from threatmatch.storage.providers_repo import ProviderRepo
from threatmatch.storage.secrets import SecretBox
from threatmatch.sync.job import sync_provider

REPO = Path(__file__).resolve().parent.parent
NAME = "anomali"
QUERY = 'status="active" or status="inactive" or status="falsepos"'
USER, KEY = "analyst@example.com", "test-api-key"
PARSE_TIME = "2026-01-01 00:00:00.000"


def start_emulator(count: int, seed: int) -> tuple[subprocess.Popen[str], str, float]:
    command = [sys.executable, "-m", "threatmatch", "emulator", "--port", "0", "--indicators", str(count),
               "--seed", str(seed), "--username", USER, "--api-key", KEY]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if " at " not in line:
        proc.kill()
        raise SystemExit(f"the emulator did not start: {line!r}")
    base = line.split(" at ", 1)[1].split("/api/", 1)[0]
    ready = float(line.rsplit("ready in ", 1)[1].rstrip("s)\n")) if "ready in " in line else float("nan")
    return proc, base, ready


def prefetch(client: ThreatStreamClient, http: httpx.Client) -> dict[str | None, bytes]:
    """Every page's bytes keyed by the update_id__gt it was requested with (None = first page)."""
    pages: dict[str | None, bytes] = {}
    cursor: int | None = None
    headers = {"Authorization": f"apikey {USER}:{KEY}", "Accept": "application/json"}
    while True:
        body = http.get(client.url, params=client.params(cursor), headers=headers, timeout=120).content
        pages[None if cursor is None else str(cursor)] = body
        view = _PAGE_DECODER.decode(body)
        if not view.objects or not view.meta.next:
            return pages
        cursor = orjson.loads(bytes(view.objects[-1]))["update_id"]


def reader(database: str, stop: Any, results: Any, probe: str) -> None:
    """Query the table continuously in its own process; report generations/counts seen and the slowest read."""
    conn = connect(Path(database))
    store = LookupStore(conn)
    seen: dict[str, int] = {}
    slowest = errors = reads = 0.0
    last_full = 0.0
    while not stop.is_set():
        started = time.perf_counter()
        try:
            conn.execute("BEGIN")  # one snapshot: pointer, probe lookup and (now and then) a full scan
            info = store.info(NAME)
            count = store.count(NAME, match=probe)
            total: Any = "-"
            if started - last_full > 0.5:  # counts the rows actually present in the generation being read
                with store._snapshot(NAME) as source:
                    assert source is not None
                    total = source.conn.execute(f"SELECT count(*) FROM {source.rows}").fetchone()[0]
                if total != info.row_count:
                    total = f"{total} (PARTIAL: listed {info.row_count})"
                last_full = started
            conn.execute("COMMIT")
            key = f"generation {info.generation}: {total} rows, probe found {count}"
            seen[key] = seen.get(key, 0) + 1
        except Exception as exc:  # any error is a failure of the swap guarantee
            errors += 1
            seen[f"error: {exc}"] = seen.get(f"error: {exc}", 0) + 1
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        slowest = max(slowest, time.perf_counter() - started)
        reads += 1
        time.sleep(0.005)  # a steady reader, not a CPU hog competing with the sync on a small machine
    results.put({"seen": seen, "slowest_s": slowest, "errors": errors, "reads": reads})


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the sync's helper processes) so far."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>12,.0f} /s" if seconds > 0 else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--indicators", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    load_before = os.getloadavg()
    proc, base, ready = start_emulator(args.indicators, args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    try:
        home = Home(workdir / "home").ensure()
        conn = connect(home.database)
        config = make_config(name=NAME, username=USER, token=KEY, query=QUERY, base_url=base)
        ProviderRepo(conn, SecretBox.for_key_file(home.secret_key)).add(config)
        print(f"emulator: {args.indicators:,} indicators at {base} (ready in {ready:.1f} s); scratch in {workdir}")

        with httpx.Client() as http:
            started = time.perf_counter()
            pages = prefetch(ThreatStreamClient(http, config), http)
            fetch_s = time.perf_counter() - started
        size = sum(map(len, pages.values()))
        print(f"prefetch: {len(pages):,} pages, {size / 1e6:,.0f} MB in {fetch_s:.1f} s")

        started = time.perf_counter()
        decoded = sum(len(orjson.loads(body)["objects"]) for body in pages.values())
        baseline_s = time.perf_counter() - started

        live = sync_provider(conn, home, NAME)  # generation 1, from the live emulator
        probe = LookupStore(conn).query(NAME, limit=1)[0]["value"]

        def replay(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, content=pages[request.url.params.get("update_id__gt")])

        ctx = mp.get_context("spawn")
        stop, results = ctx.Event(), ctx.Queue()
        watcher = ctx.Process(target=reader, args=(str(home.database), stop, results, probe))
        watcher.start()
        time.sleep(1.0)
        with httpx.Client(transport=httpx.MockTransport(replay)) as offline:
            cpu_before = cpu_seconds()
            client_side = sync_provider(conn, home, NAME, client=offline)  # generation 2, no network
            sync_cpu = cpu_seconds() - cpu_before
        time.sleep(1.0)
        stop.set()
        seen = results.get(timeout=60)
        watcher.join(timeout=30)

        row_ids = PageRowIds().take
        started = time.perf_counter()
        for number, body in enumerate(pages.values(), start=1):  # rows dropped page by page, as the sync does
            build_page(page_objects(body), parse_time=PARSE_TIME, number=number, cursor=None, row_ids=row_ids,
                       body=body)
        build_s = time.perf_counter() - started
        packs = [build_page(page_objects(body), parse_time=PARSE_TIME, number=number, cursor=None, row_ids=row_ids,
                            body=body)[0] for number, body in enumerate(pages.values(), start=1)]
        workers = min(available_cores(), MAX_WORKERS)  # the helpers stage runs whatever the load
        started = time.perf_counter()
        if workers:
            builders = RowBuilders(workers)
            try:
                for number, body in enumerate(pages.values(), start=1):
                    builders.submit(page_objects(body), parse_time=PARSE_TIME, number=number, cursor=None)
                    if builders.pending > 2 * workers:
                        builders.result()
                while builders.pending:
                    builders.result()
            finally:
                builders.close()
        helpers_s = time.perf_counter() - started
        started = time.perf_counter()
        with LookupStore(connect(workdir / "store-only.db")).begin("t") as writer:
            for packed in packs:
                writer.add_packed(packed)
            writer.commit()
        store_s = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)  # several GB for a million indicators

    n = decoded
    print(f"machine: {os.cpu_count()} cores, load average {load_before[0]:.1f} before / "
          f"{os.getloadavg()[0]:.1f} after (1 min); the client-side sync used {client_side.helpers} row-building "
          "helper processes (0 = built in its own process: no idle core)")
    print()
    print(f"{'stage':<62}{'seconds':>9}{'indicators/s':>16}{'us/indicator':>14}")
    lines = [
        ("baseline: orjson.loads of the same page bytes", baseline_s),
        ("client side: full sync from kept pages (decode+rows+store+swap)", client_side.duration_s),
        ("  stage: page decode + row building, in this process", build_s),
        (f"  stage: page decode + row building, {workers} helper processes", helpers_s),
        ("  stage: store (load + index + sync to disk + swap)", store_s),
        ("end to end from the emulator over loopback (wall)", live.duration_s),
        ("  wall - time blocked on the network (helpers build meanwhile)", live.client_seconds),
    ]
    for label, seconds in lines:
        if seconds > 0:
            print(f"{label:<62}{seconds:>9.2f}{rate(n, seconds)}{seconds / n * 1e6:>14.2f}")
    print()
    print(f"client-side rate / orjson baseline rate: {baseline_s / client_side.duration_s:.2f}x "
          f"(goal: >= 100,000 indicators/s client side; measured {n / client_side.duration_s:,.0f}/s)")
    print(f"client-side sync CPU (its process and helpers, every thread): {sync_cpu / n * 1e6:.2f} us/indicator "
          f"= {sync_cpu / client_side.duration_s:.2f} cores busy on average over its wall time")
    print(f"rows stored: {client_side.rows:,} (fetched {client_side.fetched:,}, duplicates {client_side.duplicates}, "
          f"rejected {client_side.rejected})")
    print(f"reader during the sync and swap: {seen['reads']:,.0f} reads, {seen['errors']:.0f} errors, "
          f"longest read {seen['slowest_s'] * 1000:.1f} ms ('-' = probe-only read, no full count)")
    for key, times in sorted(seen["seen"].items()):
        print(f"  saw {key}  ({times:,} times)")


if __name__ == "__main__":
    main()
