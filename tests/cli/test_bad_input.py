"""Bad input on the command line: one-line errors, the right exit code, never a traceback."""

from __future__ import annotations

import pytest


def _one_line(out, code: int, *needles: str) -> None:
    assert out.returncode == code, (out.returncode, out.stderr)
    err = out.stderr.strip()
    assert err.count("\n") == 0 and err.startswith("memdive: error: "), err
    assert "Traceback" not in err and "internal error" not in err, err
    for n in needles:
        assert n in err, (n, err)


@pytest.mark.parametrize("args", [
    ("maps", "notapid"),
    ("nosuchcommand",),
    ("pages", "1", "--range", "zz-1"),
    ("numa", "show"),
    ("ctl",),
    ("trace", "report"),
])
def test_usage_errors_are_one_line(memdive_cli, args):
    _one_line(memdive_cli(*args), 2, "--help")
