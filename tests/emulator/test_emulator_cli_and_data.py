"""The emulator as a command and with --data: real fixture pages, a subprocess server, bad files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.conftest import REPO, shared_path

from threatmatch.emulator.datafile import load_objects
from threatmatch.emulator.testing import run_emulator
from threatmatch.errors import ConfigError

API = "/api/v2/intelligence/"
PAGES = [f"elastic_intelligence_update_id_page{i}.json" for i in (1, 2, 3)]


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(shared_path("fixtures", "threatstream", name).read_text())
    return data


def without_sort(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != "sort"}


def test_elastic_mock_pages_are_reproduced(tmp_path: Path) -> None:
    """Serving the Elastic mock's nine objects, keyset paging by 3 gives its three pages, meta and next links."""
    pages = [fixture(name) for name in PAGES]
    data = tmp_path / "all.json"
    data.write_text(json.dumps([o for page in pages for o in page["objects"]]))
    with run_emulator(data=data) as ts, httpx.Client(base_url=ts.base_url, headers=ts.auth_header) as client:
        url: str | None = API + "?limit=3&modified_ts__lt=2099-01-01T00%3A00%3A01Z&order_by=update_id"
        for expected in pages:
            assert url is not None
            body = orjson.loads(client.get(url).content)
            assert [without_sort(o) for o in body["objects"]] == [without_sort(o) for o in expected["objects"]]
            assert [o["sort"] for o in body["objects"]] == [[o["update_id"]] for o in expected["objects"]]
            for key in ("total_count", "offset", "limit", "next"):
                assert body["meta"][key] == expected["meta"][key], key
            url = body["meta"]["next"]
        assert url is None


@pytest.mark.parametrize("name", ["xsoar_v3_file_sha256.json", "xsoar_v3_domain.json"])
def test_xsoar_pages_as_data(name: str) -> None:
    """A real page file is served byte-for-value: the same object, real sort, findable by its fields."""
    page = fixture(name)
    original = page["objects"][0]
    path = shared_path("fixtures", "threatstream", name)
    with run_emulator(data=path) as ts, httpx.Client(base_url=ts.base_url, headers=ts.auth_header) as client:
        body = orjson.loads(client.get(API, params={"value": original["value"]}).content)
        assert [without_sort(o) for o in body["objects"]] == [without_sort(original)]
        assert body["objects"][0]["sort"] == original["sort"]  # real captures: [modified ms, "id"]
        q = f'type = {original["type"]} and confidence >= {original["confidence"]}'
        assert orjson.loads(client.get(API, params={"q": q}).content)["meta"]["total_count"] == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"meta": {}}', "must hold a JSON list of indicator objects"),
        ('[{"id": 1}, 7]', "objects[1] is not a JSON object"),
        ('[{"value": "x"}]', "objects[0] needs a positive integer 'id'"),
        ('[{"id": 5}, {"id": 5}]', "objects[1] repeats id 5"),
    ],
)
def test_bad_data_files_are_refused_with_the_reason(tmp_path: Path, content: str, message: str) -> None:
    """A broken --data file is a ConfigError naming the file, the object and the fix."""
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_objects(path)


def test_cli_serves_until_terminated(tmp_path: Path, free_port: int) -> None:
    """`python -m threatmatch emulator` prints its URL, serves real requests, and stops cleanly on SIGTERM."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "THREATMATCH_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "threatmatch", "emulator", "--port", str(free_port), "--indicators", "250",
               "--seed", "9", "--username", "cli@example.com", "--api-key", "cli-key"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tmp_path)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert f"serving 250 indicators at http://127.0.0.1:{free_port}{API}" in first, first
        assert "apikey cli@example.com:cli-key" in proc.stdout.readline()
        base = f"http://127.0.0.1:{free_port}"
        body = httpx.get(base + API, params={"limit": 1000, "order_by": "update_id"},
                         headers={"Authorization": "apikey cli@example.com:cli-key"}).json()
        assert body["meta"]["total_count"] == 250 and len(body["objects"]) == 250
        assert httpx.get(base + API).status_code == 401
    finally:
        proc.terminate()
        out, errors = proc.communicate(timeout=10)
    assert proc.returncode == 0, errors
    assert "emulator stopped" in errors


def test_cli_refuses_data_with_indicators(tmp_path: Path) -> None:
    """--data and --indicators together are a usage error."""
    data = tmp_path / "d.json"
    data.write_text("[]")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([sys.executable, "-m", "threatmatch", "emulator", "--data", str(data), "--indicators",
                             "5"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode != 0
    assert "cannot be combined with --indicators" in result.stderr
