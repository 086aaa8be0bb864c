"""Text-log parsers on Apache combined-format lines, against the simplest possible parse of the same lines.

Usage: ``.venv/bin/python benchmarks/bench_text_parsers.py [--lines N] [--repeat R]``

The same generated access-log lines are parsed (parse only: parser, type coercion, event checks; no
normalisation) by the built-in ``Apache.AccessCombined`` log type (native ``clf`` parser), by a Panther-style
``fastmatch`` schema and by a Panther-style ``regex`` (grok, RE2) schema. Baseline, measured in the same run:
``line.split(" ")`` into a dict of the nine leading fields, the floor of any Python line parser. The lines are
in time order, ``LINES_PER_SECOND`` to a second, as a busy server writes them. Times are this
process's CPU time, best of R rounds with the runs interleaved, the garbage collector paused while timing.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable

import yaml
from bench_normalize import interleaved

from threatmatch.logtypes import LogTypeRegistry, load_schema
from threatmatch.logtypes.registry import LogType

FIELDS = """
fields:
  - {name: client, type: string, indicators: [ip]}
  - {name: ident, type: string}
  - {name: user, type: string, indicators: [username]}
  - {name: time, type: timestamp, timeFormat: '%d/%b/%Y:%H:%M:%S %z', isEventTime: true}
  - {name: method, type: string}
  - {name: path, type: string}
  - {name: protocol, type: string}
  - {name: status, type: int}
  - {name: bytes, type: bigint}
  - {name: referer, type: string, indicators: [url]}
  - {name: agent, type: string}
"""
FASTMATCH = """
schema: Bench.Fastmatch
parser:
  fastmatch:
    match:
    - '%{client} %{ident} %{user} [%{time}] "%{method} %{path} %{protocol}" %{status} %{bytes} "%{referer}" "%{agent}"'
    emptyValues: ['-']
""" + FIELDS
REGEX = r"""
schema: Bench.Regex
parser:
  regex:
    match:
      - '^%{IPORHOST:client} %{NOTSPACE:ident} %{NOTSPACE:user} \[%{HTTPDATE:time}\] '
      - '"%{WORD:method} %{NOTSPACE:path} %{NOTSPACE:protocol}" %{INT:status} %{NOTSPACE:bytes} '
      - '"%{DATA:referer}" "%{DATA:agent}"$'
    emptyValues: ['-']
""" + FIELDS
LINES_PER_SECOND = 20  # a busy server: the timestamps of a second repeat (parsers cache what they validated)
AGENTS = ("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", "curl/8.4.0",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0 Safari/537.36")


def make_lines(count: int, seed: int = 3) -> list[bytes]:
    rnd = random.Random(seed)
    lines = []
    for n in range(count):
        client = f"{rnd.choice((23, 45, 66, 81))}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
        user = rnd.choice(("-", "-", "-", f"user{rnd.randrange(50)}"))
        second = n // LINES_PER_SECOND  # in time order, as a server writes them
        stamp = f"{1 + second // 86400 % 28:02d}/Oct/2025:{second // 3600 % 24:02d}:{second // 60 % 60:02d}:" \
                f"{second % 60:02d} +0000"
        path = f"/{rnd.choice(('index.html', 'api/v1/items', 'login', 'static/app.js'))}?id={rnd.randrange(10**6)}"
        referer = rnd.choice(("-", "https://www.example.com/start", "https://search.example.org/?q=x"))
        lines.append(f'{client} - {user} [{stamp}] "GET {path} HTTP/1.1" {rnd.choice((200, 200, 304, 404))} '
                     f'{rnd.randrange(100, 50000)} "{referer}" "{rnd.choice(AGENTS)}"'.encode())
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    lines = make_lines(args.lines)
    kinds = {"native clf (Apache.AccessCombined)": LogTypeRegistry.load().get("Apache.AccessCombined"),
             "fastmatch schema": LogType(load_schema(yaml.safe_load(FASTMATCH)), builtin=False),
             "regex schema (grok, RE2)": LogType(load_schema(yaml.safe_load(REGEX)), builtin=False)}
    names = ("client", "ident", "user", "time", "zone", "method", "path", "protocol", "status")

    def baseline() -> int:
        count = 0
        for line in lines:
            dict(zip(names, line.decode().split(" "), strict=False))
            count += 1
        return count

    def parse_with(kind: LogType) -> Callable[[], int]:
        def run() -> int:
            parsed = sum(1 for _, event, _ in kind.parse(lines) if event is not None)
            assert parsed == len(lines), f"{kind.name} rejected {len(lines) - parsed} of the generated lines"
            return parsed
        return run

    runs: dict[str, Callable[[], int]] = {"baseline": baseline, **{label: parse_with(k) for label, k in kinds.items()}}
    best = interleaved(args.repeat, runs, lambda: None)  # the same timing rules as bench_normalize
    base = best["baseline"]
    count = len(lines)
    print(f"Apache combined lines: {count:,} (avg {sum(map(len, lines)) / count:.0f} bytes)")
    print(f"{'parser':<40}{'lines/s':>12}{'us/line':>10}{'ratio to baseline':>20}")
    for label, seconds in best.items():
        name = "baseline: split into a dict" if label == "baseline" else label
        print(f"{name:<40}{count / seconds:>12,.0f}{seconds / count * 1e6:>10.2f}{base / seconds:>19.2f}x")


if __name__ == "__main__":
    main()
