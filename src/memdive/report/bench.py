"""Rendering benchmark records: rich tables per benchmark, one summary table, and --plot figures.

Renderers take records (memdive.models.bench), never argv. matplotlib is imported only by plot().
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InvalidInput
from ..models.bench import (
    BandwidthResult,
    BenchEnv,
    BenchSummary,
    FalseSharingResult,
    LatencyResult,
    PatternsResult,
    PrefetchResult,
    Stats,
    TlbResult,
    TransposeResult,
)
from .tables import table


def size(n: int | None) -> str:
    """4096 -> '4K', 6144 -> '6K', 1572864 -> '1.5M' (binary units, no trailing .0)."""
    if n is None:
        return "n/a"
    if abs(n) < 1024:
        return f"{n}B"
    v = float(n)
    for suffix in "KMGT":
        v /= 1024
        if abs(v) < 1024 or suffix == "T":
            return (f"{v:.0f}" if v == int(v) else f"{v:.1f}") + suffix
    return str(n)


def _f(x: float | None, nd: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def _noise(miss_cost_ns: float) -> str:
    """A TLB miss cost of half a nanosecond or less is a difference of two timings lost in their noise (the page
    walks hit the caches, or this run's physical pages): said, not printed as a cost."""
    return " (no measurable difference: within the noise of the two runs)" if miss_cost_ns <= 0.5 else ""


def _spread(s: Stats) -> str:
    return f"{s.min:.{_nd(s.min)}f}..{s.max:.{_nd(s.max)}f}"


def _nd(x: float) -> int:
    return 1 if abs(x) >= 100 else 2 if abs(x) >= 1 else 3


def env_line(e: BenchEnv, backing: Any = None) -> str:
    """What affects the figures, in one line."""
    parts = [e.cpu_model or "unknown CPU", f"THP {e.thp_mode or 'n/a'}",
             f"CPUs {','.join(map(str, e.cpus))} " + ("pinned" if e.pinned else "NOT pinned (affinity refused)"),
             f"{e.repeats} repeats after {e.warmup} warm-up"]
    if e.tsc_hz:
        parts.append(f"TSC {e.tsc_hz / 1e9:.2f} GHz")
    if backing is not None:
        got = backing.obtained
        hf = backing.huge_fraction
        parts.append(f"pages asked {backing.requested}, got {got}" + (f" ({hf:.0%} huge)" if hf else ""))
    return "; ".join(parts)


def bandwidth_renderables(r: BandwidthResult) -> list:
    rows = [(x.kernel, x.threads, _f(x.gb_per_second.max, 1), _f(x.gb_per_second.median, 1),
             _f(x.gb_per_second.min, 1), f"{x.gb_per_second.spread:.0%}") for x in r.rows]
    note = (f"(GB/s = 1e9 B/s, STREAM byte counting; 3 arrays of {size(r.array_bytes)}"
            + (", non-temporal stores" if r.nontemporal else "")
            + f"; validated, max relative error {r.max_rel_error:.1e})")
    return [table("Bandwidth, GB/s", ["kernel", "threads", "best", "median", "worst", "spread"], rows,
                  right=range(1, 6)), note, env_line(r.env, r.backing)]


def latency_renderables(r: LatencyResult) -> list:
    cyc = any(p.cycles_per_load for p in r.points)
    rows = [(size(p.size_bytes), _f(p.ns_per_load.median), _spread(p.ns_per_load))
            + ((_f(p.cycles_per_load, 1),) if cyc else ()) for p in r.points]
    cols = ["working set", "ns/load", "min..max"] + (["cycles (TSC)"] if cyc else [])
    out = [table("Latency, ns per load", cols, rows, right=range(1, len(cols))),
           f"(dependent loads over one random cycle of {r.stride_bytes}-byte lines; median and min..max)"]
    if r.levels:
        out.append(levels_table(r))
    out.append(env_line(r.env, r.backing))
    return out


def levels_table(r: LatencyResult, title: str = "Levels found vs sysfs"):
    rows = [(lv.name, f"{size(lv.first_bytes)}..{size(lv.last_bytes)}", size(lv.sysfs_bytes) if lv.sysfs_bytes
             else "-", _f(lv.ns_per_load)) for lv in r.levels]
    return table(title, ["level", "plateau", "sysfs size", "ns/load"], rows, right=(3,))


def tlb_renderables(r: TlbResult) -> list:
    mrows = []
    for m in r.map_rows:
        if m.seconds is None:
            mrows.append((m.method, m.pages, "-", "-", m.error or ""))
            continue
        got = m.backing.obtained if m.backing else "4k (separate VMAs)"
        mrows.append((m.method, m.pages, _f(m.seconds.median * 1e3, 2), _f(m.seconds.median * 1e9 / m.pages, 0), got))
    out: list = [table("Map and touch N pages",
                 ["method", "pages", "ms", "ns/page", "backing obtained"], mrows, right=(1, 2, 3))]
    by: dict[int, dict[str, float]] = {}
    kinds: list[str] = []
    for a in r.access_rows:
        k = a.backing.obtained
        if k not in kinds:
            kinds.append(k)
        by.setdefault(a.pages, {})[k] = a.ns_per_load.median
    diff = len(kinds) == 2
    arows = [(p, size(p * 4096), *(_f(by[p].get(k)) for k in kinds))
             + ((_f(by[p][kinds[0]] - by[p][kinds[1]]) if len(by[p]) == 2 else "-",) if diff else ())
             for p in sorted(by)]
    out.append(table("TLB: one line per 4 KiB page, ns/load", ["pages", "region", *kinds] + (["diff"] if diff else []),
                     arows, right=range(3 + len(kinds))))
    out.append("(random dependent loads; columns by the backing obtained, medians)")
    if r.miss_cost_ns is not None:
        out.append(f"TLB miss cost: {r.miss_cost_ns:.1f} ns per load{_noise(r.miss_cost_ns)} (4k minus huge pages, "
                   f"fastest repeats, {r.miss_cost_pages} pages: the lines fit in half of L2)")
    out.append(env_line(r.env))
    return out


def patterns_renderables(r: PatternsResult) -> list:
    def param(x):
        return f"N={x.param}" if x.test.endswith("major") else size(x.param) if x.test == "stride" else f"{x.param}"

    rows = [(x.test, param(x), _f(x.ns_per_access.median, 3), _spread(x.ns_per_access), _f(x.gb_per_second, 2))
            for x in r.rows]
    return [table("Access patterns",
                  ["test", "param", "ns/access", "min..max", "GB/s"], rows, right=(2, 3, 4)),
            "(ns per access; GB/s of useful bytes: 8 per access)", env_line(r.env, r.backing)]


def false_sharing_renderables(r: FalseSharingResult) -> list:
    rows = [("packed (one line)", _f(r.packed_ns_per_increment.median), _spread(r.packed_ns_per_increment)),
            ("padded (a line each)", _f(r.padded_ns_per_increment.median), _spread(r.padded_ns_per_increment))]
    t = table(f"False sharing, {r.threads} threads",
              ["counters", "ns/increment", "min..max"], rows, right=(1, 2))
    note = (f"packed / padded: {r.ratio:.1f}x ({r.increments_per_thread:,} atomic increments per thread)"
            + ("" if r.validated else "  (COUNTERS DID NOT ADD UP)"))
    if r.threads < 2:
        note += " (one thread: no sharing to measure)"
    return [t, note, env_line(r.env)]


def prefetch_renderables(r: PrefetchResult) -> list:
    rows = [(x.access, x.distance_elements or "none", size(x.distance_bytes) if x.distance_bytes else "-",
             _f(x.ns_per_element.median, 3), _spread(x.ns_per_element), f"{x.speedup:.2f}x") for x in r.rows]
    return [table("Software prefetch", ["access", "distance", "bytes", "ns/element", "min..max", "speedup"],
                  rows, right=(1, 2, 3, 4, 5)),
            (f"({r.elements:,} elements; sequential: a[i] = a[i]*2+1, one prefetch per line; gather: sum of "
            "data[idx[i]] over a random index)"), env_line(r.env, r.backing)]


def transpose_renderables(r: TransposeResult) -> list:
    rows = [(f"{x.n}x{x.n}", x.method, _f(x.ns_per_element.median, 2), _spread(x.ns_per_element),
             _f(x.gb_per_second, 2), f"{x.speedup:.2f}x") for x in r.rows]
    return [table("Transpose", ["matrix", "method", "ns/element", "min..max", "GB/s", "speedup"], rows,
                  right=(2, 3, 4, 5)),
            f"(N x N doubles; blocked: {r.block}x{r.block} tiles; GB/s counts 16 bytes moved per element)",
            env_line(r.env, r.backing)]


def summary_table(s: BenchSummary):
    rows: list[tuple] = []
    if s.latency:
        for lv in s.latency.levels:
            rows.append(("latency", lv.name, f"{_f(lv.ns_per_load)} ns",
                         f"plateau to {size(lv.last_bytes)}" + (f", sysfs {size(lv.sysfs_bytes)}"
                                                                 if lv.sysfs_bytes else "")))
        if s.latency_huge and s.latency_huge.points:
            p4 = {p.size_bytes: p.ns_per_load.median for p in s.latency.points}
            ph = s.latency_huge.points[-1]
            rows.append(("latency", f"{size(ph.size_bytes)} {s.latency_huge.backing.obtained}",
                         f"{_f(ph.ns_per_load.median)} ns",
                         f"4k pages: {_f(p4.get(ph.size_bytes))} ns"))
    if s.bandwidth:
        for k in ("read", "copy", "triad"):
            for t in sorted({x.threads for x in s.bandwidth.rows}):
                b = s.bandwidth.best(k, t)
                if b:
                    rows.append(("bandwidth", f"{k}, {t} thread{'s' if t > 1 else ''}",
                                 f"{_f(b.gb_per_second.median, 1)} GB/s", f"best {_f(b.gb_per_second.max, 1)}"))
    if s.tlb and s.tlb.miss_cost_ns is not None:
        rows.append(("tlb", "miss cost", f"{_f(s.tlb.miss_cost_ns, 1)} ns",
                     "4 KiB vs 2 MiB pages" + _noise(s.tlb.miss_cost_ns)))
    if s.tlb:
        for m in s.tlb.map_rows:
            if m.seconds:
                rows.append(("tlb", f"map+touch {m.method}", f"{_f(m.seconds.median * 1e9 / m.pages, 0)} ns/page",
                             f"{m.pages} pages"))
    if s.false_sharing:
        f = s.false_sharing
        rows.append(("false sharing", f"packed vs padded, {f.threads} threads", f"{f.ratio:.1f}x time",
                     f"{_f(f.packed_ns_per_increment.median)} vs {_f(f.padded_ns_per_increment.median)} ns/incr"))
    if s.prefetch:
        for acc in ("sequential", "gather"):
            best = max((x for x in s.prefetch.rows if x.access == acc), key=lambda x: x.speedup, default=None)
            if best:
                rows.append(("prefetch", acc, f"{best.speedup:.2f}x",
                             f"best distance {best.distance_elements or 'none'}"))
    if s.transpose:
        n = max(x.n for x in s.transpose.rows)
        for x in s.transpose.rows:
            if x.n == n and x.method != "naive":
                rows.append(("transpose", f"{x.method} {n}x{n}", f"{x.speedup:.2f}x", f"{_f(x.ns_per_element.median)} ns/elem"))
    if s.patterns:
        d = {(x.test, x.param): x for x in s.patterns.rows}
        row_m = next((x for x in s.patterns.rows if x.test == "row-major"), None)
        col_m = next((x for x in s.patterns.rows if x.test == "column-major"), None)
        if row_m and col_m:
            rows.append(("patterns", "column vs row major", f"{col_m.seconds.median / row_m.seconds.median:.1f}x",
                         f"N={row_m.param}"))
        seq = next((x for x in s.patterns.rows if x.test == "sequential"), None)
        rnd = next((x for x in s.patterns.rows if x.test == "random"), None)
        if seq and rnd:
            rows.append(("patterns", "random vs sequential", f"{rnd.seconds.median / seq.seconds.median:.1f}x",
                         f"{seq.param:,} elements"))
        del d
    title = f"Memory hierarchy ({'quick, ' if s.quick else ''}{s.seconds:.0f} s)"
    return table(title, ["part", "what", "figure", "detail"], rows)


def summary_renderables(s: BenchSummary) -> list:
    out: list = [summary_table(s)]
    if s.latency and s.latency.levels:
        out.append(levels_table(s.latency))
    out.append(env_line(s.env, s.bandwidth.backing if s.bandwidth else None))
    for n in s.notes:
        out.append(f"note: {n}")
    return out


_DISPATCH: dict[type, Callable[[Any], list]] = {
    BandwidthResult: bandwidth_renderables, LatencyResult: latency_renderables, TlbResult: tlb_renderables,
    PatternsResult: patterns_renderables, FalseSharingResult: false_sharing_renderables,
    PrefetchResult: prefetch_renderables, TransposeResult: transpose_renderables, BenchSummary: summary_renderables,
}


def renderables(result: Any) -> list:
    """Tables and lines for a console; plain strings become rich Text (no markup: 'a[i]' stays as is)."""
    from rich.text import Text

    return [Text(x) if isinstance(x, str) else x for x in _DISPATCH[type(result)](result)]


def plot(result: Any, path: str) -> str:
    """Latency curve (log size axis, sysfs cache sizes and found plateaus marked) and bandwidth by
    thread count, from a summary or a latency/bandwidth result; PNG or SVG by the file's extension."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lat = result if isinstance(result, LatencyResult) else getattr(result, "latency", None)
    huge = getattr(result, "latency_huge", None)
    bw = result if isinstance(result, BandwidthResult) else getattr(result, "bandwidth", None)
    panels = [p for p in (lat, bw) if p is not None]
    if not panels:
        raise InvalidInput("--plot draws the latency curve and bandwidth by threads: run latency, bandwidth "
                           "or the summary")
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.5), squeeze=False)
    k = 0
    if lat is not None:
        ax = axes[0][k]
        k += 1
        xs = [p.size_bytes for p in lat.points]
        ax.plot(xs, [p.ns_per_load.median for p in lat.points], "o-", label=f"{lat.backing.obtained} pages")
        ax.fill_between(xs, [p.ns_per_load.min for p in lat.points], [p.ns_per_load.max for p in lat.points],
                        alpha=0.2)
        if huge is not None and huge.points:
            ax.plot([p.size_bytes for p in huge.points], [p.ns_per_load.median for p in huge.points], "s-",
                    label=f"{huge.backing.obtained} pages")
        for c in lat.env.caches:
            ax.axvline(c.size_bytes, color="grey", ls="--", lw=0.8)
            ax.annotate(f"L{c.level} {size(c.size_bytes)} (sysfs)", (c.size_bytes, 0.98), xycoords=("data", "axes fraction"),
                        rotation=90, va="top", ha="right", fontsize=7, color="grey")
        for lv in lat.levels:
            ax.hlines(lv.ns_per_load, lv.first_bytes, lv.last_bytes, color="red", lw=2)
            ax.annotate(lv.name, (lv.first_bytes, lv.ns_per_load), textcoords="offset points", xytext=(0, 4),
                        fontsize=8, color="red")
        ax.set_xscale("log", base=2)
        from matplotlib.ticker import FuncFormatter

        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: size(int(v))))
        ax.set_yscale("log")
        ax.set_xlabel("working set (bytes)")
        ax.set_ylabel("ns per dependent load")
        ax.set_title("Load latency")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    if bw is not None:
        ax = axes[0][k]
        for kern in dict.fromkeys(x.kernel for x in bw.rows):
            rows = sorted((x for x in bw.rows if x.kernel == kern), key=lambda x: x.threads)
            ax.errorbar([x.threads for x in rows], [x.gb_per_second.median for x in rows],
                        yerr=[[x.gb_per_second.median - x.gb_per_second.min for x in rows],
                              [x.gb_per_second.max - x.gb_per_second.median for x in rows]],
                        marker="o", capsize=3, label=kern)
        ax.set_xlabel("threads (pinned)")
        ax.set_ylabel("GB/s (1e9 B/s)")
        ax.set_xticks(sorted({x.threads for x in bw.rows}))
        ax.set_title(f"Bandwidth, arrays of {size(bw.array_bytes)}")
        ax.legend(fontsize=8)
        ax.grid(True, alpha=0.3)
    first = lat if lat is not None else bw
    assert first is not None
    fig.suptitle(env_line(first.env)[:140], fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(path)
    except OSError as e:
        raise InvalidInput(f"cannot write {path}: {e.strerror}", path=path) from None
    finally:
        plt.close(fig)
    return path
