"""`memdive ctl` as a subprocess on a fixture tree (MEMDIVE_ROOT): reads, and refused writes that change
nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FIX = Path(__file__).parent.parent / "fixtures" / "ctl-basic"


def _cli(*args, root=FIX):
    env = dict(os.environ, MEMDIVE_ROOT=str(root))
    return subprocess.run([sys.executable, "-m", "memdive", *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


def test_cli_on_fixture():
    r = _cli("ctl", "overcommit", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["overcommit"]["policy"] == 2
    r = _cli("ctl", "overcommit")
    assert "strict" in r.stdout and "CommitLimit" in r.stdout
    r = _cli("ctl", "oom", "77", "--json")
    assert json.loads(r.stdout)["oom_score_adj"] == 250
    r = _cli("ctl", "overcommit", "--policy", "7", "--yes")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "out of range" in r.stderr
    r = _cli("ctl", "overcommit", "--ratio", "60")
    assert r.returncode == 2 and "--yes" in r.stderr
    assert (FIX / "proc/sys/vm/overcommit_ratio").read_text() == "80\n"
    r = _cli("ctl", "oom", "77", "--set", "-2000", "--yes")
    assert r.returncode == 2 and "out of range" in r.stderr and (FIX / "proc/77/oom_score_adj").read_text() == "250\n"
