"""Detection benchmark: 20 rules over enriched events, against baselines measured in the same run.

    .venv/bin/python benchmarks/bench_rules.py [--events 200000] [--indicators 20000]

Generates (fixed seed) CloudTrail-like raw events and an Anomali-shaped lookup table; about 3 % of
events carry a listed source IP. Then measures, on one core:

1. baseline: ``orjson.loads`` + ``orjson.dumps`` of every raw line;
2. enrichment (if ``threatmatch.enrich`` is present): parse -> normalise -> match, events/s;
3. detections: the 5 built-in rules plus 15 generated panther-analysis-shaped rules (YAML + .py,
   using deep_get, deep_walk, udm via a data model and p_enrichment) over the enriched events,
   events/s and rule evaluations/s, then alerting (dedup/threshold) included.

Prints each rate and its ratio to the baseline and to the enrichment throughput.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from threatmatch.detect import AlertManager, builtin_rules_dir, load_rules, run_detections

LOG_TYPE = "AWS.CloudTrail"
EVENT_NAMES = ["GetObject", "PutObject", "DescribeInstances", "AssumeRole", "ConsoleLogin", "GetSecretValue",
               "CreateUser", "AttachUserPolicy", "StopLogging", "DeleteTrail"]

RULE_BODIES = [
    "def rule(e):\n    return e.get('eventName') == '{name}' and e.deep_get('userIdentity', 'type') == 'Root'\n",
    "def rule(e):\n    return e.get('eventName') == '{name}' and bool(e.deep_get('p_enrichment'))\n",
    "def rule(e):\n    return e.udm('source_ip') in BLOCK\n\nBLOCK = {{'203.0.113.{n}', '198.51.100.{n}'}}\n",
    "def rule(e):\n    return '{name}' in (e.deep_walk('resources', 'type', default=[]) or [])\n",
    "def rule(e):\n    return e.get('errorCode') == 'AccessDenied' and e.get('eventName') == '{name}'\n\n"
    "def title(e):\n    return f\"denied {{e.get('eventName')}} by {{e.deep_get('userIdentity', 'arn')}}\"\n",
]


def generate(events: int, indicators: int, seed: int = 7) -> tuple[list[bytes], list[dict[str, Any]]]:
    """Raw CloudTrail-like lines and Anomali-shaped rows (about 3 % of events use a listed IP)."""
    rnd = random.Random(seed)
    listed = [f"45.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}" for _ in range(indicators)]
    rows = [
        {"match": [ip], "value": ip, "type": "ip", "itype": rnd.choice(["mal_ip", "c2_ip", "scan_ip", "tor_ip"]),
         "threat_type": "malware", "confidence": rnd.randrange(30, 100), "status": "active", "id": str(i),
         "meta": {"severity": rnd.choice(["low", "medium", "high", "very-high"])}, "p_log_type": "Anomali.Indicator"}
        for i, ip in enumerate(listed)
    ]
    lines = []
    for i in range(events):
        ip = rnd.choice(listed) if rnd.random() < 0.03 else f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{i % 250}"
        user = f"user{rnd.randrange(500)}"
        event = {
            "eventVersion": "1.08", "eventTime": f"2024-05-01T{i % 24:02d}:{i % 60:02d}:{i % 60:02d}Z",
            "eventName": rnd.choice(EVENT_NAMES), "eventSource": "iam.amazonaws.com", "awsRegion": "us-east-1",
            "sourceIPAddress": ip, "userAgent": "aws-cli/2.15.0 Python/3.11.6",
            "userIdentity": {"type": rnd.choice(["IAMUser", "AssumedRole", "Root"]), "userName": user,
                             "arn": f"arn:aws:iam::123456789012:user/{user}", "accountId": "123456789012"},
            "errorCode": rnd.choice([None, None, None, "AccessDenied"]),
            "resources": [{"type": "AWS::IAM::User", "ARN": f"arn:aws:iam::123456789012:user/{user}"}],
            "responseElements": {"ConsoleLogin": rnd.choice(["Success", "Failure"])},
            "recipientAccountId": "123456789012",
        }
        lines.append(orjson.dumps(event))
    return lines, rows


def write_generated_rules(folder: Path, count: int) -> None:
    """``count`` panther-analysis-shaped rules plus a CloudTrail data model."""
    (folder / "data_models").mkdir(parents=True)
    (folder / "data_models" / "ct.yml").write_text(yaml.safe_dump({
        "AnalysisType": "datamodel", "DataModelID": "Bench.CloudTrail", "Enabled": True, "LogTypes": [LOG_TYPE],
        "Mappings": [{"Name": "source_ip", "Path": "$.sourceIPAddress"},
                     {"Name": "actor", "Path": "$.userIdentity.arn"}],
    }))
    for i in range(count):
        body = RULE_BODIES[i % len(RULE_BODIES)].format(name=EVENT_NAMES[i % len(EVENT_NAMES)], n=i)
        (folder / f"bench_{i}.py").write_text(textwrap.dedent(body))
        (folder / f"bench_{i}.yml").write_text(yaml.safe_dump({
            "AnalysisType": "rule", "Filename": f"bench_{i}.py", "RuleID": f"Bench.Rule.{i}", "Enabled": True,
            "LogTypes": [LOG_TYPE], "Severity": "Medium", "DedupPeriodMinutes": 60,
        }))


def timed(label: str, action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = action()
    seconds = time.perf_counter() - started
    print(f"  {label}: {seconds:.2f} s", flush=True)
    return seconds, value


def baseline(lines: list[bytes]) -> int:
    loads, dumps = orjson.loads, orjson.dumps
    return sum(len(dumps(loads(line))) for line in lines)


def enrich_pipeline(rows: list[dict[str, Any]]) -> Callable[[list[bytes]], list[dict[str, Any]]] | None:
    """The real enrichment pipeline over ``rows`` (built once), or None when the engine is not present."""
    try:
        from threatmatch.enrich.engine import Enricher
        from threatmatch.enrich.index import TableIndex
        from threatmatch.enrich.live import LiveTable
        from threatmatch.enrich.pipeline import Pipeline
        from threatmatch.logtypes import LogTypeRegistry
    except ImportError:
        return None
    registry = LogTypeRegistry.load()
    enricher = Enricher({"anomali": LiveTable(TableIndex.build(rows, name="anomali"))}, None, registry)
    pipeline = Pipeline(registry, enricher)

    def run(lines: list[bytes]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = pipeline.process(LOG_TYPE, lines).events
        return events

    return run


def fallback_enrich(lines: list[bytes], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Without the engine: attach rows by exact source IP (enough to exercise the rules)."""
    by_ip = {row["value"]: row for row in rows}
    events = []
    for line in lines:
        event = orjson.loads(line)
        event["p_log_type"] = LOG_TYPE
        event["p_event_time"] = event["eventTime"].replace("T", " ").rstrip("Z") + ".000"
        row = by_ip.get(event["sourceIPAddress"])
        if row is not None:
            event["p_enrichment"] = {"anomali": {"sourceIPAddress": {**row, "p_match": event["sourceIPAddress"]}}}
        events.append(event)
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--indicators", type=int, default=20_000)
    args = parser.parse_args()
    lines, rows = generate(args.events, args.indicators)
    print(f"{len(lines):,} events, {len(rows):,} indicators", flush=True)

    base_s, _ = timed("baseline orjson loads+dumps", lambda: baseline(lines))
    base_rate = len(lines) / base_s
    pipeline = enrich_pipeline(rows)
    events: list[dict[str, Any]] | None = None
    enrich_rate = None
    if pipeline is not None:
        enrich_s, events = timed("enrichment pipeline (parse->normalise->match)", lambda: pipeline(lines))
        enrich_rate = len(lines) / enrich_s
    if events is None:
        print("  enrichment engine not present: attaching rows with a plain dict for the rule run")
        events = fallback_enrich(lines, rows)
    enriched = sum(1 for e in events if e.get("p_enrichment"))

    with tempfile.TemporaryDirectory() as work:
        write_generated_rules(Path(work), 15)
        ruleset = load_rules([builtin_rules_dir(), Path(work)])
        applicable = len(ruleset.for_log_type(LOG_TYPE))
        print(f"{len(ruleset)} rules loaded, {applicable} apply to {LOG_TYPE}; {enriched:,} events enriched",
              flush=True)
        rules_s, results = timed("rules only", lambda: ruleset.run(events))
        manager = AlertManager(ruleset)
        now = datetime(2024, 5, 1, tzinfo=UTC)
        full_s, (_, alerts) = timed("rules + alerting", lambda: run_detections(events, ruleset, manager, now))

    errors = [r for r in results if r.error is not None]
    if errors:
        print(f"  {len(errors):,} rule errors, e.g. {errors[0].rule_id}: {errors[0].error}")
    rules_rate = len(events) / rules_s
    print(f"detections: {rules_rate:,.0f} events/s, {rules_rate * applicable:,.0f} rule evaluations/s; "
          f"with alerting {len(events) / full_s:,.0f} events/s; {len(results):,} matches/errors, "
          f"{len(alerts):,} alerts")
    print(f"baseline orjson: {base_rate:,.0f} events/s -> detections/baseline ratio {rules_rate / base_rate:.2f}")
    if enrich_rate is not None:
        print(f"enrichment: {enrich_rate:,.0f} events/s -> detections/enrichment ratio {rules_rate / enrich_rate:.2f} "
              f"(enrichment/baseline {enrich_rate / base_rate:.2f})")


if __name__ == "__main__":
    main()
