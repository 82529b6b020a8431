"""The code stays clean under ruff and mypy (STYLE.md): a finding fails the suite, as in review."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False,
                          timeout=300)


def _have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.mark.skipif(not _have("ruff"), reason="ruff is not installed (pip install '.[test]')")
def test_ruff_is_clean():
    r = _run("ruff", "check", "--no-cache", "src", "tests", "benchmarks")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


@pytest.mark.skipif(not _have("mypy"), reason="mypy is not installed (pip install '.[test]')")
def test_mypy_is_clean(tmp_path):
    r = _run("mypy", "--cache-dir", str(tmp_path / "cache"))
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
