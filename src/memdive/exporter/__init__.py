"""Prometheus metrics for fleets: system memory, PSI, vmstat (incl. THP and compaction), buddyinfo,
NUMA nodes and per-group (command, user or cgroup) RSS/PSS/USS/swap/faults, from the live sampler.

    from memdive.exporter import Exporter, ExporterConfig
    with Exporter(ExporterConfig(listen="127.0.0.1:9917")) as ex:
        ...                                   # ex.url answers /metrics

Binds 127.0.0.1 unless told otherwise; optional TLS and basic auth from a web-config file
(memdive.exporter.webconfig); a hard cap on series; scrapes served from the latest snapshot.
"""

from __future__ import annotations

from .metrics import GROUP_BY, GroupCounters, families
from .server import DEFAULT_LISTEN, Exporter, ExporterConfig

__all__ = ["DEFAULT_LISTEN", "GROUP_BY", "Exporter", "ExporterConfig", "GroupCounters", "families"]
