"""``threatmatch sync [NAME]``: one full refresh now, with a progress bar and a summary."""

from __future__ import annotations

from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from threatmatch.cli.context import echo_json, err, out, state
from threatmatch.errors import SyncError, ThreatmatchError


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value:,}" for key, value in counts.items()) or "none"


def _summary(result: Any) -> str:
    if result.unchanged:
        return (f"{result.provider!r} is unchanged since its last sync: its {result.rows:,} rows stay in use "
                f"(checked in {result.duration_s:.1f} s)")
    return (f"synced {result.provider!r}: {result.rows:,} rows (fetched {result.fetched:,}, "
            f"duplicates {result.duplicates:,}, rejected {result.rejected:,}) in {result.duration_s:.1f} s\n"
            f"  by type: {_counts(result.by_type)}\n  by status: {_counts(result.by_status)}")


def _sync_one(name: str, as_json: bool) -> None:
    from threatmatch.sync.job import sync_provider

    current = state()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("indicators"), TimeElapsedColumn(), console=err, transient=not err.is_terminal) as bar:
        task = bar.add_task(Text(f"sync {name}").plain, total=None)

        def progress(fetched: int, total: int | None) -> None:
            bar.update(task, completed=fetched, total=total)

        result = sync_provider(current.db, current.home, name, progress=progress)
    if as_json:
        echo_json(result.to_dict())
    else:
        out.print(Text(_summary(result)))
    for sample in result.reject_samples:
        err.print(Text(f"rejected: {sample}"))
    if result.rejected > len(result.reject_samples):
        err.print(Text(f"... and {result.rejected - len(result.reject_samples):,} more rejected objects"))


@click.command("sync")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print each result as a JSON object.")
def sync(name: str | None, as_json: bool) -> None:
    """Refresh provider NAME (or every provider) now: a full snapshot, swapped in atomically.

    On failure the table in use stays untouched, the error is recorded on the provider and the exit code is 1.
    """
    if name is not None:
        _sync_one(name, as_json)
        return
    from threatmatch.storage.providers_repo import ProviderRepo
    from threatmatch.storage.secrets import SecretBox

    current = state()
    names = ProviderRepo(current.db, SecretBox.for_key_file(current.home.secret_key)).names()
    if not names:
        raise ThreatmatchError("no providers configured; add one with `threatmatch providers add-threatstream`")
    failed: list[str] = []
    for each in names:
        try:
            _sync_one(each, as_json)
        except SyncError as exc:
            err.print(Text(f"error: {exc}"), style="red")
            failed.append(each)
    if failed:
        raise SyncError(f"{len(failed)} of {len(names)} providers failed to sync ({', '.join(failed)}); "
                        "their previous tables stay in use")


COMMANDS: list[click.Command] = [sync]
