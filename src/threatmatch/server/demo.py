"""``threatmatch serve --demo``: a newcomer sees enriched events and alerts within a minute.

Starts the bundled ThreatStream emulator (generated feed + a few demo indicators that appear in the bundled
sample logs) and a small feed host serving the bundled demo blocklist, both on free loopback ports; creates the
two demo providers (ThreatStream and a feed) when no other provider is configured, syncs them, ingests the
bundled sample logs, and creates a console token, printed once.
"""

from __future__ import annotations

import secrets
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from threatmatch.emulator.app import Emulator, EmulatorConfig
from threatmatch.emulator.dataset import Dataset
from threatmatch.emulator.mutations import add as add_indicator
from threatmatch.emulator.server import EmulatorServer
from threatmatch.providers.feed.config import make_feed_config
from threatmatch.providers.threatstream.config import make_config
from threatmatch.server.service import Service
from threatmatch.server.tokens import TokenStore

SAMPLES = Path(__file__).parent / "demo_logs"
BLOCKLIST = Path(__file__).parent / "demo_feeds" / "blocklist.txt"
PROVIDER = "Anomali ThreatStream"
FEED = "Demo blocklist"
DEMO_USER = "demo@threatmatch.example"
FEED_SIZE = 5000
FEED_SEED = 42

#: Indicators whose values occur in the bundled sample logs (documentation IP ranges, RFC 5737).
DEMO_INDICATORS: tuple[dict[str, object], ...] = (
    {"value": "203.0.113.66", "type": "ip", "itype": "c2_ip", "confidence": 92, "status": "active",
     "source": "threatmatch demo feed", "meta": {"severity": "very-high", "detail2": "demo indicator"}},
    {"value": "198.51.100.23", "type": "ip", "itype": "mal_ip", "confidence": 85, "status": "active",
     "source": "threatmatch demo feed", "meta": {"severity": "high", "detail2": "demo indicator"}},
    {"value": "192.0.2.150", "type": "ip", "itype": "tor_ip", "confidence": 70, "status": "active",
     "source": "threatmatch demo feed", "meta": {"severity": "medium", "detail2": "demo indicator"}},
)


def say(message: str) -> None:
    """Demo progress on stderr (the terminal that ran `make run`)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def sample_files() -> list[tuple[str, Path]]:
    """(log type, file) of every bundled sample log; the file name is the log type."""
    return [(path.name.removesuffix(".jsonl"), path) for path in sorted(SAMPLES.glob("*.jsonl"))]


def start_demo_emulator(*, indicators: int = FEED_SIZE, seed: int = FEED_SEED) -> tuple[EmulatorServer, str]:
    """A running emulator with the generated feed plus the demo indicators; returns it and its API key."""
    dataset = Dataset.generate(indicators, seed)
    now_ms = int(time.time() * 1000)
    for fields in DEMO_INDICATORS:
        add_indicator(dataset, dict(fields), now_ms)
    api_key = secrets.token_hex(16)
    server = EmulatorServer(Emulator(dataset, EmulatorConfig(username=DEMO_USER, api_key=api_key))).start()
    return server, api_key


class _FeedHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
        body = BLOCKLIST.read_bytes() if self.path == "/blocklist.txt" else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def start_demo_feed_host() -> tuple[ThreadingHTTPServer, str]:
    """A feed host on a free loopback port serving the bundled demo blocklist; returns it and the feed's URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _FeedHandler)
    threading.Thread(target=httpd.serve_forever, name="threatmatch-demo-feed", daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/blocklist.txt"


@dataclass
class DemoBootstrap:
    """Everything ``serve --demo`` does after the server has started."""

    service: Service
    url: str

    def run(self) -> None:
        started = time.perf_counter()
        server, api_key = start_demo_emulator()
        self.service.on_stop(server.stop)
        feed_host, feed_url = start_demo_feed_host()
        self.service.on_stop(feed_host.shutdown)
        repo = self.service.repo()
        if not [name for name in repo.names() if name not in (PROVIDER, FEED)]:  # no real provider: (re)point ours
            repo.add(make_config(name=PROVIDER, username=DEMO_USER, token=api_key, query='status="active"',
                                 base_url=server.base_url), replace=True)
            repo.add(make_feed_config(name=FEED, url=feed_url, itype="bot_ip", confidence=60), replace=True)
            for name, where in ((PROVIDER, f"the bundled emulator at {server.base_url}"),
                                (FEED, f"the bundled feed host at {feed_url}")):
                self.service.provider_added(name)
                self.service.sync(name, wait=True)
                say(f"demo: provider {name!r} synced from {where}")
        marker = self.service.home.root / "demo-samples-ingested"
        if not marker.exists():
            for log_type, path in sample_files():
                report = self.service.engine.ingest(log_type, path.read_bytes().splitlines())
                say(f"demo: ingested {path.name}: {report.accepted} events, {report.matched} enriched with a match, "
                    f"{report.alerts} alerts")
            self.service.engine.sink.flush()
            marker.write_text("the bundled sample logs were ingested into this home\n", encoding="utf-8")
        token = self._console_token()
        say(f"demo ready in {time.perf_counter() - started:.1f} s. Open {self.url} and sign in with this API "
            f"token (shown once; `threatmatch tokens create NAME` makes more):\n\n    {token}\n")

    def _console_token(self) -> str:
        tokens = TokenStore(self.service.db())
        name = "demo"
        if any(info.name == name and info.active for info in tokens.list()):
            tokens.revoke(name)
        return tokens.create(name)[1]
