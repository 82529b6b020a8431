"""Records of the whole machine: meminfo, vmstat, PSI."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class MemInfo:
    """/proc/meminfo in bytes. `values` holds every line (bytes for kB lines, counts for HugePages_*)."""

    values: dict[str, int] = field(default_factory=dict)

    def get(self, key: str, default: int | None = None) -> int | None:
        return self.values.get(key, default)

    @property
    def total_bytes(self) -> int:
        return self.values.get("MemTotal", 0)

    @property
    def free_bytes(self) -> int:
        return self.values.get("MemFree", 0)

    @property
    def available_bytes(self) -> int | None:
        return self.values.get("MemAvailable")

    @property
    def buffers_bytes(self) -> int:
        return self.values.get("Buffers", 0)

    @property
    def cached_bytes(self) -> int:
        """Page cache as free(1) counts it: Cached + SReclaimable."""
        return self.values.get("Cached", 0) + self.values.get("SReclaimable", 0)

    @property
    def used_bytes(self) -> int:
        """free(1)'s used: total - free - buffers - cache."""
        return max(0, self.total_bytes - self.free_bytes - self.buffers_bytes - self.cached_bytes)


@dataclass(frozen=True, slots=True)
class PressureLine:
    avg10: float
    avg60: float
    avg300: float
    total_us: int


@dataclass(frozen=True, slots=True)
class Pressure:
    """/proc/pressure/memory (PSI). `full` is None on kernels that print only `some`."""

    some: PressureLine
    full: PressureLine | None
