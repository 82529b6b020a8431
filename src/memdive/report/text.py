"""Plain-text helpers: human sizes, escaping target-controlled strings for a terminal."""

from __future__ import annotations

import re

_CTRL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escape(s: str, limit: int = 4096) -> str:
    """Escape control characters (names and cmdlines are written by the target); bound the length."""
    if len(s) > limit:
        s = s[:limit] + "…"
    if _CTRL.search(s):
        s = _CTRL.sub(lambda m: f"\\x{ord(m.group()):02x}", s)
    # surrogate-escaped undecodable bytes
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def human(n: float | None, unit: str = "") -> str:
    """1536 -> '1.5K' (binary units). None -> 'n/a'."""
    if n is None:
        return "n/a"
    n = float(n)
    for suffix in ("", "K", "M", "G", "T", "P"):
        if abs(n) < 1024 or suffix == "P":
            if suffix == "":
                return f"{int(n)}{unit or 'B'}" if unit else f"{int(n)}"
            return f"{n:.1f}{suffix}{unit}"
        n /= 1024
    return str(n)


def human_bytes(n: int | None) -> str:
    if n is None:
        return "n/a"
    return human(n) if abs(n) >= 1024 else f"{n}B"


def pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def describe_exit(returncode: int) -> str:
    """A child's end as subprocess gives it: "exit status N", or "killed by SIGNAME" for -N."""
    if returncode < 0:
        import signal

        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"
