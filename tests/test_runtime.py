"""Process-wide settings of bulk processes: heap policy and process names."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from threatmatch.runtime import tune_malloc_for_bulk_work

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt is what is tuned; other C libraries keep their policy")
def test_malloc_tuning_applies_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    """mallopt accepts both settings (it answers 1 for each), applying them twice is harmless, and
    THREATMATCH_MALLOC_TUNING=off leaves glibc's defaults."""
    assert tune_malloc_for_bulk_work() is True
    assert tune_malloc_for_bulk_work() is True
    monkeypatch.setenv("THREATMATCH_MALLOC_TUNING", "off")
    assert tune_malloc_for_bulk_work() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process names are set through Linux prctl")
def test_helper_processes_name_themselves() -> None:
    """A process calling name_process shows that name in /proc (what top and ps -o comm print), cut at 15 bytes."""
    code = ("from threatmatch.runtime import name_process; name_process('tm-lake-writer-and-more'); "
            "print(open('/proc/self/comm').read().strip())")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert shown == "tm-lake-writer-"
