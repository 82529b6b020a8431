"""Helpers shared by command modules: argument types, JSON output, console output."""

from __future__ import annotations

import argparse
import re
import sys

from ..errors import InvalidInput

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
          "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}


def parse_size(text: str) -> int:
    """'4096', '4k', '2M', '1.5GiB' -> bytes (powers of two)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 4096, 64k, 2M, 1G)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def parse_pid(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"not a PID: {text!r}")
    return int(text)


def parse_addr(text: str) -> int:
    try:
        a = int(text, 16)   # "0x7f00..." and "7f00..." alike
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a hex address: {text!r}") from None
    if not 0 <= a < 1 << 64:
        raise argparse.ArgumentTypeError(f"not a 64-bit address: {text!r}")
    return a


def _int(text: str, least: int, what: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < least:
        raise argparse.ArgumentTypeError(f"{what}, not {n}")
    return n


def parse_count(text: str) -> int:
    """A count of rows or samples: 0 or more."""
    return _int(text, 0, "must be 0 or more")


def parse_positive(text: str) -> int:
    """A count that must be at least 1."""
    return _int(text, 1, "must be at least 1")


def _seconds(text: str, zero_ok: bool) -> float:
    import math  # here, not at the top: this module is on `ps`'s startup path

    try:
        s = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(s) or s < 0 or (s == 0 and not zero_ok):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds {'>= 0' if zero_ok else '> 0'}, not {text!r}")
    return s


def parse_seconds(text: str) -> float:
    """An interval or timeout: finite and above 0 (inf would overflow time_t in sleeps and deadlines)."""
    return _seconds(text, zero_ok=False)


def parse_seconds_or_zero(text: str) -> float:
    """A duration where 0 means none: finite and 0 or more."""
    return _seconds(text, zero_ok=True)


def parse_range(text: str) -> tuple[int, int]:
    lo, sep, hi = text.partition("-")
    if not sep:
        raise argparse.ArgumentTypeError(f"not a range START-END: {text!r}")
    a, b = parse_addr(lo), parse_addr(hi)
    if b <= a:
        raise argparse.ArgumentTypeError(f"empty range: {text!r}")
    return a, b


def require_pids(pids: list[int] | None) -> None:
    """NoSuchProcess naming every asked PID that does not exist (a watch of no process is a typo)."""
    if not pids:
        return
    from ..errors import NoSuchProcess
    from ..kernel.procfs import read_stat

    missing = []
    for p in pids:
        try:
            read_stat(p)
        except NoSuchProcess:
            missing.append(p)
    if missing:
        raise NoSuchProcess(f"no such process: {', '.join(map(str, missing))}", pid=missing[0])


def emit_json(obj, plain: bool = False) -> None:
    """Print obj as JSON; `plain`: obj is already made of dicts, lists and scalars (no records to convert)."""
    if plain:
        import json

        sys.stdout.write(json.dumps(obj, ensure_ascii=False))
    else:
        from ..report.jsonout import dumps

        sys.stdout.write(dumps(obj))
    sys.stdout.write("\n")


def require_yes(args, what: str) -> None:
    if not getattr(args, "yes", False):
        raise InvalidInput(f"{what} changes the running system; add --yes to do it")
