"""Run every benchmark in turn: ``make bench`` (full sizes) or ``python -m benchmarks --quick``.

Each benchmark prints its own rates and the ratio against a baseline measured in the same run
(plain orjson work on the same input). Run them on an otherwise idle machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (script, full-size arguments, quick arguments)
BENCHMARKS: tuple[tuple[str, list[str], list[str]], ...] = (
    ("bench_sync.py", ["--indicators", "1000000"], ["--indicators", "50000"]),
    ("bench_feed.py", [], ["--lines", "50000", "--repeat", "1"]),
    ("bench_normalize.py", [], ["--lines", "20000"]),
    ("bench_text_parsers.py", [], ["--lines", "10000", "--repeat", "3"]),
    ("bench_enrich.py", [], ["--events", "100000", "--indicators", "100000", "--cidrs", "5000"]),
    ("bench_rules.py", [], ["--events", "20000", "--indicators", "5000"]),
    ("bench_lake.py", [], ["--events", "20000"]),
    ("bench_emulator.py", [], ["--indicators", "100000", "--pages", "50"]),
    ("bench_ingest.py", [], ["--indicators", "100000", "--seconds", "15"]),
)


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    only = [arg for arg in argv if not arg.startswith("--")]
    failed = []
    for script, full, small in BENCHMARKS:
        if only and script.removesuffix(".py").removeprefix("bench_") not in only:
            continue
        args = small if quick else full
        print(f"\n=== {script} {' '.join(args)}", flush=True)
        if subprocess.call([sys.executable, str(HERE / script), *args]) != 0:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
