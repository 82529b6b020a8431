"""System-wide memory files under /proc: meminfo, vmstat, pressure (PSI)."""

from __future__ import annotations

from ..errors import ParseError
from ..models.system import MemInfo, Pressure, PressureLine
from .io import read_bytes
from .root import KernelRoot, resolve


def parse_meminfo(data: bytes, path: str = "meminfo") -> MemInfo:
    values: dict[str, int] = {}
    for line in data.split(b"\n"):
        if not line:
            continue
        key, sep, rest = line.partition(b":")
        parts = rest.split()
        if not sep or not parts:
            raise ParseError(f"{path}: malformed line {line[:80]!r}", path=path)
        try:
            v = int(parts[0])
        except ValueError:
            raise ParseError(f"{path}: malformed value in {line[:80]!r}", path=path) from None
        if len(parts) > 1 and parts[1] == b"kB":
            v *= 1024
        values[key.decode("ascii", "replace")] = v
    if "MemTotal" not in values:
        raise ParseError(f"{path}: no MemTotal line (truncated?)", path=path)
    return MemInfo(values=values)


def parse_vmstat(data: bytes, path: str = "vmstat") -> dict[str, int]:
    out: dict[str, int] = {}
    for line in data.split(b"\n"):
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ParseError(f"{path}: malformed line {line[:80]!r}", path=path)
        try:
            out[parts[0].decode("ascii", "replace")] = int(parts[1])
        except ValueError:
            raise ParseError(f"{path}: malformed value in {line[:80]!r}", path=path) from None
    return out


def parse_pressure(data: bytes, path: str = "pressure/memory") -> Pressure:
    lines: dict[str, PressureLine] = {}
    for line in data.split(b"\n"):
        if not line:
            continue
        kind, *kv = line.decode("ascii", "replace").split()
        try:
            d = dict(p.split("=", 1) for p in kv)
            lines[kind] = PressureLine(float(d["avg10"]), float(d["avg60"]), float(d["avg300"]), int(d["total"]))
        except (KeyError, ValueError):
            raise ParseError(f"{path}: malformed line {line[:80]!r}", path=path) from None
    if "some" not in lines:
        raise ParseError(f"{path}: no 'some' line", path=path)
    return Pressure(some=lines["some"], full=lines.get("full"))


def read_meminfo(root: KernelRoot | None = None) -> MemInfo:
    p = resolve(root).proc_path("meminfo")
    return parse_meminfo(read_bytes(p), p)


def read_vmstat(root: KernelRoot | None = None) -> dict[str, int]:
    p = resolve(root).proc_path("vmstat")
    return parse_vmstat(read_bytes(p), p)


def read_pressure(root: KernelRoot | None = None) -> Pressure:
    """PSI memory. KernelFeatureMissing when absent (CONFIG_PSI off) or refused (EOPNOTSUPP)."""
    p = resolve(root).proc_path("pressure/memory")
    return parse_pressure(read_bytes(p, what="PSI needs CONFIG_PSI=y and psi=1 on the kernel command line"), p)
