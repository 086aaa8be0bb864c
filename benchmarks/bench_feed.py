"""How fast a feed provider turns a feed into its lookup table, against plain orjson work on the same lines.

Run: .venv/bin/python benchmarks/bench_feed.py [--lines 500000] [--repeat 3]

Inputs: the real IPsum feed (``../shared/realdata/intel/feeds/ipsum/ipsum.txt``, ~120k IPs with counts) when it is
there, and a generated ``lines`` feed of ``--lines`` mixed indicators (IPv4, CIDR, domains, URLs, SHA-256, e-mail,
a few defanged and a few that are no indicator), in the same run:
  1. baseline: split the body into lines and ``orjson.dumps({"match": [first word], "value": first word})`` each;
  2. read + rows: ``FeedSource.batches`` over the body served from memory (decode, parse, classify, build and pack
     every row; no store);
  3. full sync over loopback: a real HTTP server on 127.0.0.1 publishes the body, ``sync_provider`` downloads it
     and builds, stores, indexes and swaps the table.
Prints rows/s and us/row of each, and the ratios of 2 and 3 to the baseline (best of ``--repeat``).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the tests' feed server (a real HTTP server on loopback)

from tests.providers.feed_server import feed_server  # noqa: E402

from threatmatch.home import Home  # noqa: E402
from threatmatch.providers.feed.config import make_feed_config  # noqa: E402
from threatmatch.providers.feed.source import FeedSource  # noqa: E402
from threatmatch.storage.db import connect  # noqa: E402
from threatmatch.storage.providers_repo import ProviderRepo  # noqa: E402
from threatmatch.storage.secrets import SecretBox  # noqa: E402
from threatmatch.sync.job import sync_provider  # noqa: E402

IPSUM = REPO.parent / "shared" / "realdata" / "intel" / "feeds" / "ipsum" / "ipsum.txt"


def generated(count: int, seed: int = 5) -> bytes:
    rnd = random.Random(seed)
    lines = ["# generated feed: mixed indicators"]
    for n in range(count):
        pick = n % 10
        if pick < 4:
            lines.append(f"{rnd.randrange(1, 224)}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
                         f"\t{rnd.randrange(1, 9)}")
        elif pick == 4:
            lines.append(f"{rnd.randrange(1, 224)}.{rnd.randrange(256)}.{rnd.randrange(256)}.0/24 ; SBL{n}")
        elif pick < 7:
            lines.append(f"host{n}.example{rnd.randrange(100)}.com")
        elif pick == 7:
            lines.append(f"hxxp://evil{n}[.]example.net/path/{rnd.getrandbits(32):x}.php")
        elif pick == 8:
            lines.append(f"{rnd.getrandbits(256):064x}")
        elif (n // 10) % 5:
            lines.append(f"phish{n}@mail{rnd.randrange(50)}.example.org")
        else:
            lines.append(f"/not/an/indicator/{n}")
    return ("\n".join(lines) + "\n").encode()


def best(repeat: int, run: Callable[[], int]) -> tuple[float, int]:
    seconds, rows = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        rows = run()
        seconds = min(seconds, time.perf_counter() - started)
    return seconds, rows


def baseline(body: bytes) -> int:
    count = 0
    dumps = orjson.dumps
    for line in body.split(b"\n"):
        if not line or line[:1] in (b"#", b";"):
            continue
        word = line.split(None, 1)[0].decode()
        dumps({"match": [word], "value": word})
        count += 1
    return count


def measure(label: str, body: bytes, repeat: int, workdir: Path) -> None:
    config = make_feed_config(name="bench", url="http://127.0.0.1/feed.txt")
    base_s, lines = best(repeat, lambda: baseline(body))

    def rows_only() -> int:
        client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body)))
        source = FeedSource(config, client)
        return sum(len(batch.packed.params) // 8 for batch in source.batches(now=datetime.now(UTC))
                   if batch.packed is not None)

    build_s, rows = best(repeat, rows_only)
    with feed_server() as server:
        url = server.publish("/feed.txt", body)
        home = Home(workdir / f"home-{label}").ensure()
        ProviderRepo(connect(home.database), SecretBox.for_key_file(home.secret_key)).add(
            make_feed_config(name="bench", url=url), replace=True)

        def full_sync() -> int:
            server.publish("/feed.txt", body + f"# {time.time()}\n".encode())  # new bytes: never "unchanged"
            result = sync_provider(connect(home.database), home, "bench")
            return result.rows + result.duplicates

        sync_s, stored = best(repeat, full_sync)
    print(f"\n{label}: {len(body) / 1e6:.1f} MB, {lines:,} data lines, {rows:,} rows built ({lines - rows:,} rejected)")
    print(f"{'stage':<52}{'seconds':>9}{'rows/s':>12}{'us/row':>9}{'ratio':>8}")
    for name, seconds in (("baseline: split + orjson.dumps per line", base_s),
                          ("read + rows (FeedSource.batches, no store)", build_s),
                          ("full sync over loopback (download .. swap)", sync_s)):
        print(f"{name:<52}{seconds:>9.2f}{lines / seconds:>12,.0f}{seconds / lines * 1e6:>9.2f}"
              f"{base_s / seconds:>8.2f}")
    assert stored == rows, (stored, rows)  # every row built is stored or a duplicate of one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-feed-"))
    try:
        if IPSUM.exists():
            measure("IPsum (real)", IPSUM.read_bytes(), args.repeat, workdir)
        else:
            print(f"{IPSUM} is absent (../shared beside the clone): only the generated feed is measured")
        measure("generated mixed feed", generated(args.lines), args.repeat, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
