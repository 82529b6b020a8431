"""Memory-hierarchy benchmarks (`memdive bench`): C kernels on pinned threads, driven from Python.

    from memdive import bench
    bench.latency()         ns per dependent load by working set; plateaus = cache levels
    bench.bandwidth()       STREAM read/write/copy/scale/add/triad, 1..N threads, GB/s
    bench.tlb()             mapping cost by page kind; TLB-miss cost (4 KiB vs 2 MiB pages)
    bench.patterns()        row vs column major, stride sweep, sequential vs random
    bench.false_sharing()   packed vs padded per-thread counters
    bench.prefetch()        software prefetch distances, sequential and gather
    bench.transpose()       naive vs blocked vs cache-oblivious
    bench.summary()         all of them, sized for the machine (quick=True: under a minute)

Each returns a record of memdive.models.bench with min/median/max over repeats, the machine facts
that affect the figures, and the page backing the buffers actually got (read from smaps).
"""

from __future__ import annotations

from .bandwidth import bandwidth
from .buffers import Buffer
from .false_sharing import false_sharing
from .latency import latency
from .patterns import patterns
from .plateaus import find_plateaus
from .prefetch import prefetch
from .summary import summary
from .tlb import tlb
from .transpose import transpose

__all__ = ["Buffer", "bandwidth", "false_sharing", "find_plateaus", "latency", "patterns", "prefetch", "summary",
           "tlb", "transpose"]
