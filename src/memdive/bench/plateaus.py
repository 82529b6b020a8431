"""Finding the cache levels in a latency curve: flat stretches of ns per load against working set.

Pure functions (no measurement): tested on synthetic curves. A plateau is a run of points where
each step changes by at most `step` (relative) and the run stays within `span` of its lowest point
(neighbouring runs split by one noisy step are merged back); runs of one point (the ramps between
levels) are not plateaus.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from ..models.bench import CacheLevel, Plateau


def segments(ns: Sequence[float], step: float = 0.25, span: float = 0.6) -> list[list[int]]:
    """Indexes of the points split into runs (see module doc)."""
    if not ns:
        return []
    segs: list[list[int]] = [[0]]
    for i in range(1, len(ns)):
        cur = segs[-1]
        first, prev = ns[cur[0]], ns[cur[-1]]
        lo = min(ns[j] for j in cur)
        ok = (ns[i] <= prev * (1 + step) and ns[i] >= prev / (1 + step)
              and ns[i] <= lo * (1 + span) and ns[i] >= first / (1 + span))
        if ok:
            cur.append(i)
        else:
            segs.append([i])
    # a noisy step can split one level: merge neighbours whose union still lies within `span`
    merged: list[list[int]] = [segs[0]]
    for seg in segs[1:]:
        both = merged[-1] + seg
        vals = [ns[j] for j in both]
        if (len(seg) > 1 and len(merged[-1]) > 1 and max(vals) <= min(vals) * (1 + span)
                and ns[seg[0]] <= ns[merged[-1][-1]] * (1 + 2 * step)):
            merged[-1] = both
        else:
            merged.append(seg)
    return merged


def find_plateaus(sizes: Sequence[int], ns: Sequence[float], caches: Sequence[CacheLevel] = (),
                  step: float = 0.25, span: float = 0.6, min_points: int = 2) -> list[Plateau]:
    """Plateaus of the curve, named L1, L2, ... in order and DRAM for the last one when the curve
    reaches past twice the largest cache; each beside the size sysfs gives for that level."""
    if len(sizes) != len(ns):
        raise ValueError("sizes and ns differ in length")
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    s = [sizes[i] for i in order]
    v = [ns[i] for i in order]
    runs = [r for r in segments(v, step, span) if len(r) >= min_points]
    if not runs:
        return []
    llc = max((c.size_bytes for c in caches), default=0)
    dram_last = bool(llc) and s[-1] >= 2 * llc and s[runs[-1][0]] > (caches[-2].size_bytes if len(caches) > 1
                                                                     else llc // 4)
    levels = sorted(caches, key=lambda c: c.level)
    out: list[Plateau] = []
    for k, r in enumerate(runs):
        last = k == len(runs) - 1
        if last and dram_last:
            name, sysfs = "DRAM", None
        elif k < len(levels):
            name, sysfs = f"L{levels[k].level}", levels[k].size_bytes
        elif levels and dram_last:
            # more flat stretches than caches: past the LLC and before DRAM (TLB reach, a shared or
            # partly available LLC on a busy machine); named for what they lie between
            name, sysfs = f"L{levels[-1].level}..DRAM", None
        else:
            name, sysfs = f"level{k + 1}", None
        out.append(Plateau(name=name, first_bytes=s[r[0]], last_bytes=s[r[-1]],
                           ns_per_load=statistics.median(v[i] for i in r), sysfs_bytes=sysfs))
    return out
