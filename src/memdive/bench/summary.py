"""`memdive bench` with no name: the whole hierarchy, bounded to a few minutes (`quick`: < 1 minute)."""

from __future__ import annotations

import time
from typing import Any

from ..errors import MemdiveError
from ..models.bench import BenchSummary
from . import env
from .bandwidth import bandwidth
from .false_sharing import false_sharing
from .latency import default_sizes, latency
from .patterns import patterns
from .prefetch import prefetch
from .tlb import tlb
from .transpose import transpose

# (quick, full) settings of each part
PROFILES: dict[bool, dict[str, Any]] = {
    True: {
        "lat_reps": 3, "lat_loads": 1 << 20, "lat_octave": 1,
        "bw_reps": 5,
        "tlb_pages": [16, 256, 4096, 65536], "tlb_reps": 3, "tlb_loads": 1 << 20,
        "fs_incr": 2_000_000, "fs_reps": 3,
        "pf_elems": 4 << 20, "pf_reps": 3,
        "tr_sizes": (512, 2048), "tr_reps": 2,
        "pat_n": 2048, "pat_bytes": 32 << 20, "pat_elems": 4 << 20, "pat_reps": 2,
    },
    False: {
        "lat_reps": 5, "lat_loads": 1 << 22, "lat_octave": 2,
        "bw_reps": 10,
        "tlb_pages": None, "tlb_reps": 5, "tlb_loads": 1 << 21,
        "fs_incr": 10_000_000, "fs_reps": 5,
        "pf_elems": 16 << 20, "pf_reps": 5,
        "tr_sizes": (256, 1024, 2048, 4096), "tr_reps": 3,
        "pat_n": 4096, "pat_bytes": 64 << 20, "pat_elems": 8 << 20, "pat_reps": 3,
    },
}


def summary(quick: bool = False, pages: str = "4k", size: int | None = None,
            threads: int | list[int] | None = None) -> BenchSummary:
    """Run every benchmark with settings sized for the machine; a part that cannot run is noted."""
    p = PROFILES[quick]
    t0 = time.monotonic()
    notes: list[str] = []
    out: dict[str, object] = {}

    def part(name: str, fn, *a, **kw) -> None:
        try:
            out[name] = fn(*a, **kw)
        except MemdiveError as e:
            notes.append(f"{name}: {e}" + (f" ({e.hint})" if getattr(e, "hint", None) else ""))

    sizes = default_sizes(size, per_octave=p["lat_octave"])
    part("latency", latency, sizes, pages=pages, repeats=p["lat_reps"], min_loads=p["lat_loads"])
    huge = "thp" if pages == "4k" else pages
    if huge != pages:
        part("latency_huge", latency, [s for s in sizes if s >= sizes[-1] // (2 if quick else 8)], pages=huge,
             repeats=p["lat_reps"], min_loads=p["lat_loads"])
    part("bandwidth", bandwidth, size=size, threads=threads, repeats=p["bw_reps"], pages=pages)
    part("tlb", tlb, p["tlb_pages"], repeats=p["tlb_reps"], min_loads=p["tlb_loads"])
    part("false_sharing", false_sharing, None, p["fs_incr"], p["fs_reps"])
    part("prefetch", prefetch, p["pf_elems"], p["pf_reps"], pages=pages)
    part("transpose", transpose, p["tr_sizes"], repeats=p["tr_reps"], pages=pages)
    part("patterns", patterns, p["pat_n"], p["pat_bytes"], elements=p["pat_elems"], repeats=p["pat_reps"],
         pages=pages)
    cpus = env.usable_cpus()
    e = env.make_env(cpus, all(getattr(getattr(r, "env", None), "pinned", True) for r in out.values()),
                     p["bw_reps"], 1)
    return BenchSummary(env=e, quick=quick, seconds=time.monotonic() - t0, notes=tuple(notes), **out)  # type: ignore[arg-type]
