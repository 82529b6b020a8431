"""Rendering an allocation trace report: summary, call-site tables, heap state, resident join, JSON."""

from __future__ import annotations

from ..models.trace import CallSite, Frame, TraceReport
from .text import escape, human_bytes, pct

_ALLOC_FNS = {"malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign", "aligned_alloc", "memalign",
              "valloc", "pvalloc", "mmap", "mmap64", "munmap", "mremap", "operator new", "operator new[]"}


def frame_text(f: Frame) -> str:
    loc = f"{f.file.rsplit('/', 1)[-1]}:{f.line}" if f.file and f.line else (f.object.rsplit("/", 1)[-1] if f.object
                                                                             else "")
    return f"{f.function} ({loc})" if loc else f.function


def user_frames(site: CallSite) -> list[Frame]:
    """The frames a reader wants first: skip allocator wrappers (operator new, the C runtime's malloc)."""
    fr = list(site.frames)
    i = 0
    while i < len(fr) - 1 and (fr[i].function.split("(")[0] in _ALLOC_FNS or fr[i].function.startswith("operator new")):
        i += 1
    return fr[i:]


def site_label(site: CallSite, depth: int = 3) -> str:
    fr = user_frames(site)
    if not fr:
        return f"stack #{site.stack_id} (no frames)"
    return " ← ".join(escape(frame_text(f), 120) for f in fr[:depth])


def summary_lines(r: TraceReport) -> list[str]:
    cmd = escape(" ".join(r.command) or r.exe, 300)
    lines = [f"trace of PID {r.pid}: {cmd}",
             f"  {r.duration_seconds:.3f} s, {r.threads} thread(s), {r.events:,} events, allocator {r.allocator or '?'}"
             + ("" if r.complete else "  [no clean exit]")]
    calls = ", ".join(f"{k} {v:,}" for k, v in r.calls.items() if "(free)" not in k)
    lines.append(f"  calls: {calls or 'none'}")
    lines.append(f"  allocations {r.allocations:,} ({human_bytes(r.allocated_bytes)} requested), "
                 f"temporary {r.temporary:,} ({pct(r.temporary, r.allocations)}), frees {r.frees:,}")
    lines.append(f"  peak heap {human_bytes(r.peak_bytes)} at {r.peak_time_seconds:.3f} s"
                 + (f"; peak RSS {human_bytes(r.rss_peak_bytes)}" if r.rss_peak_bytes else "")
                 + (f"; program mmaps peak {human_bytes(r.mmap_peak_bytes)}" if r.mmap_peak_bytes else ""))
    end = "at exit" if r.complete else "at the end of the trace"
    lines.append(f"  leaked {end}: {r.leaked_count:,} blocks, {human_bytes(r.leaked_bytes)}"
                 + (f"; mmaps still mapped {human_bytes(r.mmap_leaked_bytes)}" if r.mmap_leaked_bytes else "")
                 + (f"; held by the C runtime (stdio buffers etc., not leaks) {r.internal_count:,} blocks, "
                    f"{human_bytes(r.internal_bytes)}" if r.internal_count else ""))
    for w in r.warnings:
        lines.append(f"  warning: {w}")
    return lines


def sites_table(title: str, sites: list[CallSite], key: str):
    from .tables import table

    rows = []
    for i, s in enumerate(sites, 1):
        if key == "peak":
            vals = [human_bytes(s.peak_bytes), f"{s.peak_count:,}",
                    human_bytes(s.resident_peak_bytes) if s.resident_peak_bytes is not None else "-"]
        elif key == "leaked":
            vals = [human_bytes(s.leaked_bytes), f"{s.leaked_count:,}",
                    human_bytes(s.resident_exit_bytes) if s.resident_exit_bytes is not None else "-"]
        else:
            vals = [f"{s.allocations:,}", human_bytes(s.allocated_bytes), f"{s.temporary:,}"]
        rows.append([str(i), *vals, site_label(s)])
    heads = {"peak": ["bytes at peak", "blocks", "resident"], "leaked": ["leaked", "blocks", "resident"],
             "count": ["allocations", "bytes", "temporary"]}[key]
    return table(title, ["#", *heads, "call site (innermost first)"], rows, right=(0, 1, 2, 3))


def stack_lines(s: CallSite, limit: int = 16) -> list[str]:
    out = []
    for f in user_frames(s)[:limit]:
        out.append(("    (inlined) " if f.inlined else "    ") + escape(frame_text(f), 200))
    return out


def heap_table(r: TraceReport):
    from .tables import table

    rows = []
    for h in r.heap:
        rows.append([h.reason, f"{h.time_seconds:.3f}", str(h.arenas), human_bytes(h.arena_bytes),
                     human_bytes(h.in_use_bytes), human_bytes(h.free_held_bytes), human_bytes(h.top_pad_bytes),
                     f"{h.mmapped_chunks:,}", human_bytes(h.mmapped_bytes)])
    return table("glibc heap state (mallinfo2 / malloc_info)",
                 ["when", "time s", "arenas", "from system", "in use", "free held", "top pad", "mmapped chunks",
                  "mmapped"], rows, right=(1, 2, 3, 4, 5, 6, 7, 8))


def resident_table(r: TraceReport):
    from .tables import table

    rows = []
    for j in r.resident:
        rows.append([j.reason, f"{j.time_seconds:.3f}", human_bytes(j.live_bytes), human_bytes(j.live_resident_bytes),
                     human_bytes(j.heap_resident_bytes), human_bytes(j.free_held_resident_bytes),
                     pct(j.free_held_resident_bytes, j.heap_resident_bytes)])
    return table("live blocks joined with resident pages (pagemap at the snapshot)",
                 ["snapshot", "time s", "live", "live resident", "heap+anon resident", "free-but-held resident",
                  "of resident"], rows, right=(1, 2, 3, 4, 5, 6))


def report_json(r: TraceReport) -> dict:
    from .jsonout import to_jsonable

    d = to_jsonable(r)
    assert isinstance(d, dict)
    return d


# ---------------------------------------------------------------- flame graph and timeline

_FLAME_LIMIT = 3000   # stacks drawn individually; the lighter rest is one "(other stacks)" box


def flame_tree(analysis, weight: str = "peak") -> dict:
    """Call tree (outermost frame at the root) weighted by bytes live at peak, leaked, or allocated."""
    import numpy as np

    if weight == "peak":
        w = dict(analysis.site_peak)
    elif weight == "leaked":
        w = dict(analysis.site_leaked)
    else:
        ev = analysis.trace.events
        from ..trace import reader as R

        m = np.isin(ev["func"], R.ALLOC_FUNCS)
        u, inv = np.unique(ev["stack"][m], return_inverse=True)
        tot = np.bincount(inv, weights=ev["size"][m].astype(np.float64), minlength=u.size)
        w = {int(k): int(v) for k, v in zip(u, tot)}
    items = sorted(((s, v) for s, v in w.items() if v > 0), key=lambda kv: -kv[1])
    shown, rest = items[:_FLAME_LIMIT], items[_FLAME_LIMIT:]
    tr, sym = analysis.trace, analysis.symbolizer
    sym.resolve({a for s, _v in shown for a in tr.stacks.get(s, ())})
    root: dict = {"n": "all", "v": 0, "c": {}}
    for s, v in shown:
        frames = [f for f in sym.stack(tr.stacks.get(s, ()))] if s in tr.stacks else []
        node = root
        node["v"] += v
        for f in reversed(frames):
            label = frame_text(f)
            node = node["c"].setdefault(label, {"n": label, "v": 0, "c": {}})
            node["v"] += v
        if not frames:
            node = node["c"].setdefault("(no stack)", {"n": "(no stack)", "v": 0, "c": {}})
            node["v"] += v
    if rest:
        v = sum(x for _s, x in rest)
        root["v"] += v
        root["c"]["(other stacks)"] = {"n": f"(other {len(rest):,} stacks)", "v": v, "c": {}}

    def fix(n: dict) -> dict:
        return {"n": n["n"], "v": n["v"], "c": sorted((fix(c) for c in n["c"].values()), key=lambda c: -c["v"])}

    return fix(root)


_FLAME_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font:13px system-ui,sans-serif;margin:12px;background:#fff;color:#222}
#bar{margin-bottom:8px} #bar input{width:260px} #info{margin:6px 0;min-height:1.3em;font-family:monospace}
#chart{position:relative;width:100%;overflow:hidden;border-top:1px solid #ddd}
.f{position:absolute;height:17px;line-height:17px;font-size:11px;overflow:hidden;white-space:nowrap;
   box-sizing:border-box;border:1px solid #fff;border-radius:2px;padding-left:3px;cursor:pointer}
.f.hit{background:#e040fb !important;color:#fff}
</style></head><body>
<h3 id="title"></h3>
<div id="bar"><button id="reset">reset zoom</button> <input id="q" placeholder="search function or file">
 <span id="found"></span></div>
<div id="info">click a frame to zoom; hover for details</div>
<div id="chart"></div>
<script>
"use strict";
const DATA = __DATA__;
const META = __META__;
const chart = document.getElementById("chart"), info = document.getElementById("info");
document.getElementById("title").textContent = META.title;
function human(b){const u=["B","KiB","MiB","GiB","TiB"];let i=0;while(b>=1024&&i<u.length-1){b/=1024;i++;}
  return (i?b.toFixed(1):String(b))+" "+u[i];}
function color(name){let h=0;for(let i=0;i<name.length;i++)h=(h*31+name.charCodeAt(i))>>>0;
  return "hsl("+(10+h%40)+","+(60+h%30)+"%,"+(55+h%15)+"%)";}
let focus = DATA;
function depthOf(n){let d=0;for(const c of n.c)d=Math.max(d,depthOf(c));return d+1;}
function draw(){
  chart.textContent = "";
  const W = chart.clientWidth || 1000, total = focus.v || 1, rows = depthOf(focus);
  chart.style.height = (rows*18+4)+"px";
  const q = document.getElementById("q").value.toLowerCase(); let hits = 0;
  (function walk(n, x, d){
    const w = n.v/total*W; if (w < 0.5) return;
    const el = document.createElement("div"); el.className = "f";
    el.style.left = x+"px"; el.style.top = (d*18)+"px"; el.style.width = w+"px";
    el.style.background = color(n.n); el.textContent = w > 30 ? n.n : "";
    el.title = n.n+"\\n"+human(n.v)+" ("+(100*n.v/DATA.v).toFixed(2)+"% of all)";
    if (q && n.n.toLowerCase().includes(q)) { el.classList.add("hit"); hits++; }
    el.onclick = () => { focus = n; draw(); };
    el.onmouseover = () => { info.textContent = n.n+"  —  "+human(n.v)+"  ("+(100*n.v/DATA.v).toFixed(2)+"%)"; };
    chart.appendChild(el);
    let cx = x; for (const c of n.c) { walk(c, cx, d+1); cx += c.v/total*W; }
  })(focus, 0, 0);
  document.getElementById("found").textContent = q ? hits+" match(es)" : "";
}
document.getElementById("reset").onclick = () => { focus = DATA; draw(); };
document.getElementById("q").oninput = draw;
window.onresize = draw;
draw();
</script></body></html>
"""


def flamegraph_html(tree: dict, title: str) -> str:
    import json

    def js(obj) -> str:  # safe inside <script>: no "</" sequences
        return json.dumps(obj, ensure_ascii=True).replace("</", "<\\/")

    return (_FLAME_HTML.replace("__TITLE__", escape_html(title)).replace("__DATA__", js(tree))
            .replace("__META__", js({"title": title})))


def escape_html(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def write_flamegraph(analysis, out: str, weight: str = "peak") -> str:
    from ..errors import InvalidInput

    r = analysis.report
    what = {"peak": f"bytes live at the heap peak ({human_bytes(r.peak_bytes)} at {r.peak_time_seconds:.3f} s)",
            "leaked": f"bytes leaked at exit ({human_bytes(r.leaked_bytes)})",
            "allocated": f"bytes allocated over the run ({human_bytes(r.allocated_bytes)})"}[weight]
    title = f"memdive trace — PID {r.pid} {' '.join(r.command)[:200]} — {what}"
    html = flamegraph_html(flame_tree(analysis, weight), title)
    try:
        with open(out, "w", encoding="utf-8") as f:
            f.write(html)
    except OSError as e:
        raise InvalidInput(f"cannot write {out}: {e.strerror}", path=out) from None
    return out


def timeline_series(analysis) -> tuple[list[float], list[int], list[float], list[int]]:
    """(seconds, heap bytes in use) and (seconds, RSS bytes) over the run."""
    tr = analysis.trace
    rss_t = [t / 1e9 for t, _r, _s in tr.rss]
    rss_v = [r for _t, r, _s in tr.rss]
    return analysis.timeline_s.tolist(), analysis.timeline_heap.tolist(), rss_t, rss_v


def write_timeline(analysis, out: str) -> str:
    from ..errors import InvalidInput

    t, heap, rt, rv = timeline_series(analysis)
    r = analysis.report
    title = f"PID {r.pid} {' '.join(r.command)[:80]}: heap in use and RSS"
    try:
        if out.endswith(".html"):
            with open(out, "w", encoding="utf-8") as f:
                f.write(_timeline_html(title, t, heap, rt, rv, r.peak_time_seconds, r.peak_bytes))
        else:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
            ax.plot(t, [h / 2**20 for h in heap], label="heap in use (requested bytes)", lw=1.2)
            if rt:
                ax.plot(rt, [v / 2**20 for v in rv], label="RSS (sampled by the shim)", lw=1.2, marker=".")
            ax.axvline(r.peak_time_seconds, color="grey", ls=":", lw=1)
            ax.set_xlabel("seconds since start")
            ax.set_ylabel("MiB")
            ax.set_title(title, fontsize=10)
            ax.legend(loc="upper left")
            ax.grid(alpha=0.3)
            fig.tight_layout()
            fig.savefig(out)
            plt.close(fig)
    except OSError as e:
        raise InvalidInput(f"cannot write {out}: {e.strerror}", path=out) from None
    return out


def _timeline_html(title, t, heap, rt, rv, peak_t, peak_b) -> str:
    W, H, P = 900, 360, 50
    tmax = max([*t, *rt, 1e-9])
    vmax = max([*heap, *rv, 1])

    def pts(xs, ys):
        return " ".join(f"{P + x / tmax * (W - 2 * P):.1f},{H - P - y / vmax * (H - 2 * P):.1f}" for x, y in zip(xs, ys))

    ticks = "".join(
        f'<text x="{P - 6}" y="{H - P - k / 4 * (H - 2 * P) + 4:.0f}" text-anchor="end">{human_bytes(int(vmax * k / 4))}</text>'
        for k in range(5))
    xt = "".join(f'<text x="{P + k / 4 * (W - 2 * P):.0f}" y="{H - P + 16}" text-anchor="middle">{tmax * k / 4:.3g}s</text>'
                 for k in range(5))
    px = P + peak_t / tmax * (W - 2 * P)
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape_html(title)}</title></head>
<body style="font:13px system-ui,sans-serif"><h3>{escape_html(title)}</h3>
<svg width="{W}" height="{H}" font-size="11" xmlns="http://www.w3.org/2000/svg">
<rect x="{P}" y="{P}" width="{W - 2 * P}" height="{H - 2 * P}" fill="none" stroke="#ccc"/>
{ticks}{xt}
<line x1="{px:.1f}" y1="{P}" x2="{px:.1f}" y2="{H - P}" stroke="#999" stroke-dasharray="3,3"/>
<text x="{px + 4:.1f}" y="{P + 12}">peak {human_bytes(peak_b)}</text>
<polyline fill="none" stroke="#1f77b4" stroke-width="1.3" points="{pts(t, heap)}"/>
<polyline fill="none" stroke="#ff7f0e" stroke-width="1.3" points="{pts(rt, rv)}"/>
<text x="{P + 8}" y="{P + 16}" fill="#1f77b4">heap in use</text><text x="{P + 100}" y="{P + 16}" fill="#ff7f0e">RSS</text>
</svg></body></html>
"""
