"""How fast the ThreatStream emulator generates and serves indicators.

Run: .venv/bin/python benchmarks/bench_emulator.py [--indicators 1000000] [--pages 300]

Measures, in one run:
  * generation of N indicators (seconds, peak memory);
  * serving pages of 1000 by update_id keyset, in process (Emulator.handle, no socket);
  * serving the same over HTTP from a separate `threatmatch emulator` process (client reads raw bytes);
  * the baseline: orjson.dumps of the very same page objects, measured here.
Reports indicators/s and the ratio emulator / orjson.dumps.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from threatmatch.emulator.app import Emulator, EmulatorConfig
from threatmatch.emulator.dataset import Dataset

REPO = Path(__file__).resolve().parent.parent
AUTH = {"authorization": "apikey analyst@example.com:test-api-key"}
FIRST = "/api/v2/intelligence/?order_by=update_id&limit=1000"


def next_of(body: bytes) -> str | None:
    """meta.next without parsing the objects (meta is the last member)."""
    meta: dict[str, Any] = orjson.loads(body[body.rfind(b'"meta":') + 7 : -1])
    return meta["next"]


def in_process(app: Emulator, pages: int, query: str) -> tuple[float, list[bytes]]:
    url: str | None = FIRST + query
    bodies: list[bytes] = []
    started = time.perf_counter()
    while url and len(bodies) < pages:
        body = app.handle("GET", url, AUTH, b"").body
        bodies.append(body)
        url = next_of(body)
    return time.perf_counter() - started, bodies


def over_http(count: int, pages: int, seed: int) -> tuple[float, int, float]:
    command = [sys.executable, "-m", "threatmatch", "emulator", "--port", "0", "--indicators", str(count),
               "--seed", str(seed)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        base = line.split(" at ", 1)[1].split("/api/", 1)[0]
        ready = float(line.rsplit("ready in ", 1)[1].rstrip("s)\n"))
        served = 0
        with httpx.Client(base_url=base, headers={"Authorization": AUTH["authorization"]}, timeout=60) as client:
            url: str | None = FIRST
            fetched = 0
            started = time.perf_counter()
            while url and fetched < pages:
                body = client.get(url).content
                served += body.count(b'"resource_uri"')
                url = next_of(body)
                fetched += 1
            elapsed = time.perf_counter() - started
        return elapsed, served, ready
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def baseline(bodies: list[bytes]) -> tuple[float, int]:
    pages = [orjson.loads(body)["objects"] for body in bodies]
    started = time.perf_counter()
    for objects in pages:
        orjson.dumps({"objects": objects})
    return time.perf_counter() - started, sum(len(p) for p in pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--indicators", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=300, help="pages of 1000 to fetch per measurement")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    started = time.perf_counter()
    dataset = Dataset.generate(args.indicators, args.seed)
    generated = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    app = Emulator(dataset, EmulatorConfig())

    plain_s, bodies = in_process(app, args.pages, "")
    plain_n = sum(body.count(b'"resource_uri"') for body in bodies)
    filtered_s, filtered = in_process(app, args.pages, "&q=status%3D%22active%22&modified_ts__lt=2099-01-01")
    filtered_n = sum(body.count(b'"resource_uri"') for body in filtered)
    base_s, base_n = baseline(bodies)
    del dataset, app, bodies, filtered
    http_s, http_n, ready = over_http(args.indicators, args.pages, args.seed)

    base_rate = base_n / base_s
    print(f"generate {args.indicators:,} indicators: {generated:.1f} s in process "
          f"(CLI ready in {ready:.1f} s), peak RSS {peak_mb:.0f} MB")
    print(f"{'measurement':60} {'indicators/s':>13} {'vs orjson.dumps':>16}")
    for name, count, seconds in (
        ("orjson.dumps of the same page objects (baseline)", base_n, base_s),
        ("emulator in process, keyset pages of 1000", plain_n, plain_s),
        ('emulator in process, q=status="active" + modified_ts__lt', filtered_n, filtered_s),
        ("emulator over HTTP (separate process), raw bytes", http_n, http_s),
    ):
        rate = count / seconds
        print(f"{name:60} {rate:13,.0f} {rate / base_rate:15.2f}x")


if __name__ == "__main__":
    main()
