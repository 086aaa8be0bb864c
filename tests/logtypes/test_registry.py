"""Schema validation with field paths, the registry, and the `log-types` commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from threatmatch.cli.main import cli
from threatmatch.errors import NotFoundError, SchemaError
from threatmatch.home import Home
from threatmatch.logtypes import LogTypeRegistry, load_schema

GOOD = """\
schema: Custom.Proxy
description: Proxy log
parser:
  csv:
    delimiter: " "
    columns: [time, client, url]
fields:
  - {name: time, type: timestamp, timeFormat: unix, isEventTime: true}
  - {name: client, type: string, indicators: [ip]}
  - {name: url, type: string, indicators: [url]}
"""


def test_validation_names_every_bad_path() -> None:
    """Each problem is reported with its field path and the known choices."""
    with pytest.raises(SchemaError) as caught:
        load_schema({"fields": [{"name": "a", "type": "string"}, {"name": "b", "type": "string"},
                                {"name": "c", "type": "string"},
                                {"name": "d", "type": "object", "fields": [
                                    {"name": "e", "type": "string", "indicators": ["ip", "ipp"]}]}],
                     "schema": "Custom.X"}, source="x.yml")
    text = str(caught.value)
    assert text.startswith("x.yml: fields[3].fields[0].indicators[1]: unknown indicator 'ipp' (known: ip, domain,")
    assert caught.value.path == "fields[3].fields[0].indicators[1]"
    assert "fix:" in text


@pytest.mark.parametrize(("data", "path"), [
    ({"fields": [{"name": "a", "type": "strng"}]}, "fields[0].type"),
    ({"fields": [{"name": "a", "type": "array"}]}, "fields[0].element"),
    ({"fields": [{"name": "a", "type": "string", "isEventTime": True}]}, "fields[0].isEventTime"),
    ({"fields": [{"name": "a", "type": "timestamp", "timeFormat": "iso"}]}, "fields[0].timeFormat"),
    ({"fields": [{"name": "a", "type": "string", "indicator": ["ip"]}]}, "fields[0].indicator"),
    ({"fields": [{"name": "p_x", "type": "string"}]}, "fields[0].name"),
    ({"fields": [{"name": "a", "type": "string"}], "parser": {"regex": {}}}, "parser.regex.match"),
    ({"fields": [{"name": "a", "type": "string"}], "parser": {"native": {"name": "zeek"}}}, "parser.native.name"),
    ({"fields": [{"name": "a", "type": "string"}], "parser": {"csv": {"columns": ["b"]}}}, "parser.csv.columns[0]"),
    ({"fields": [{"name": "a", "type": "json", "scan": "gcp"}]}, "fields[0].scan"),
])
def test_validation_paths(data: dict[str, object], path: str) -> None:
    """Typical mistakes point at the right place."""
    with pytest.raises(SchemaError) as caught:
        load_schema({"schema": "Custom.X", **data})
    assert caught.value.path == path


def test_panther_keys_not_applied_load_with_warnings() -> None:
    """Panther field keys threatmatch accepts but does not apply are named, with their path, as warnings; a
    false or empty value changes nothing and says nothing; validate and isEmbeddedJSON are applied (no warning)."""
    schema = load_schema({"schema": "Custom.Warned", "fields": [
        {"name": "ip", "type": "string", "indicators": ["ip"], "validate": {"ip": "ipv4"}, "concealed": True},
        {"name": "doc", "type": "object", "isEmbeddedJSON": True, "fields": [
            {"name": "user", "type": "string", "upperCase": True, "concealed": False}]},
        {"name": "tags", "type": "array", "element": {"type": "string", "lowerCase": True}},
    ]})
    assert schema.warnings == (
        "fields[0].concealed: not applied by threatmatch: the value is stored and shown as sent (not masked)",
        "fields[1].fields[0].upperCase: not applied by threatmatch: the value keeps its case",
        "fields[2].element.lowerCase: not applied by threatmatch: the value keeps its case",
    )
    assert load_schema({"schema": "Custom.Plain", "fields": [{"name": "a", "type": "string"}]}).warnings == ()


def test_unknown_log_type_suggests_names() -> None:
    """get() of a misspelt name suggests the right one."""
    with pytest.raises(NotFoundError, match="did you mean AWS.CloudTrail"):
        LogTypeRegistry.load().get("AWS.Cloudtrail")


def test_add_persists_and_refuses_builtin_names(tmp_path: Path) -> None:
    """A user schema is saved under home/logtypes and reloaded; built-in names are refused."""
    home = Home(tmp_path / "home")
    source = tmp_path / "proxy.yml"
    source.write_text(GOOD, encoding="utf-8")
    registry = LogTypeRegistry.load(home)
    added = registry.add(source)
    assert added.name == "Custom.Proxy" and not added.builtin
    assert (home.logtypes / "Custom.Proxy.yml").exists()
    reloaded = LogTypeRegistry.load(home).get("Custom.Proxy")
    (_, event, _), = reloaded.parse(["1600000000 192.0.2.7 http://evil.example/x\n"])
    assert event is not None
    out = reloaded.compile_normalizer()(event, "2024-01-01 00:00:00.000", "a" * 32)
    assert out["p_any_ip_addresses"] == ["192.0.2.7"] and out["p_any_domain_names"] == ["evil.example"]
    clash = tmp_path / "clash.yml"
    clash.write_text(GOOD.replace("Custom.Proxy", "AWS.VPCFlow"), encoding="utf-8")
    with pytest.raises(SchemaError, match="built in and cannot be replaced"):
        registry.add(clash)


def test_cli_list_show_add(home_dir: Path, tmp_path: Path) -> None:
    """log-types list/show/add work end to end through the CLI."""
    runner = CliRunner()
    listed = runner.invoke(cli, ["log-types", "list", "--json"])
    assert listed.exit_code == 0 and '"name":"Zeek.DNS"' in listed.output
    shown = runner.invoke(cli, ["log-types", "show", "AWS.CloudTrail"])
    assert shown.exit_code == 0 and "userIdentity.arn" in shown.output and "aws_arn" in shown.output
    source = tmp_path / "proxy.yml"
    source.write_text(GOOD, encoding="utf-8")
    added = runner.invoke(cli, ["log-types", "add", str(source)])
    assert added.exit_code == 0, added.output
    assert "warning" not in added.output
    assert "Custom.Proxy" in runner.invoke(cli, ["log-types", "list"]).output
    bad = tmp_path / "bad.yml"
    bad.write_text("fields:\n  - {name: a, type: strng}\n", encoding="utf-8")
    failed = runner.invoke(cli, ["log-types", "add", str(bad)])
    assert failed.exit_code != 0 and "fields[0].type" in str(failed.exception)
    warned = tmp_path / "warned.yml"
    warned.write_text(GOOD.replace("Custom.Proxy", "Custom.Warned").replace("indicators: [url]}",
                                                                           "indicators: [url], lowerCase: true}"))
    added = CliRunner().invoke(cli, ["log-types", "add", str(warned)])
    assert added.exit_code == 0 and "added log type Custom.Warned" in added.stdout
    assert "warning: fields[2].lowerCase: not applied by threatmatch: the value keeps its case" in added.stderr
    shown = CliRunner().invoke(cli, ["log-types", "show", "Custom.Warned", "--json"])
    assert '"warnings":["fields[2].lowerCase: not applied by threatmatch' in shown.stdout
