"""Plots of a recording (matplotlib, imported lazily): memory over time.

Four panels sharing the time axis: the system breakdown stacked (anonymous, page cache, shmem, slab,
kernel stacks + page tables, free), the chosen processes' PSS (RSS where PSS was never measured),
page faults per second (the system's and the chosen processes'), PSI memory some/full avg10.
"""

from __future__ import annotations

import os

from ..errors import InvalidInput
from .reader import Recording


def _figure(rec: Recording, procs: list[tuple[int, int, str]]):
    import datetime as dt

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    sysd = rec.system_series()
    if not sysd["t"]:
        raise InvalidInput(f"{rec.path} holds no samples yet", path=rec.path)
    ts = [dt.datetime.fromtimestamp(t) for t in sysd["t"]]
    gib = 1 << 30

    def col(name: str) -> list[float]:
        return [(v or 0) / gib for v in sysd[name]]

    fig, axes = plt.subplots(4, 1, figsize=(11, 11), sharex=True, constrained_layout=True)
    ax = axes[0]
    anon = col("anon_bytes")
    cache = [max(0.0, c - s) for c, s in zip(col("page_cache_bytes"), col("shmem_bytes"))]
    shmem = col("shmem_bytes")
    slab = [a + b for a, b in zip(col("slab_reclaimable_bytes"), col("slab_unreclaimable_bytes"))]
    kern = [a + b for a, b in zip(col("kernel_stack_bytes"), col("page_tables_bytes"))]
    free = col("free_bytes")
    ax.stackplot(ts, anon, cache, shmem, slab, kern, free,
                 labels=["anonymous", "page cache", "shmem", "slab", "kernel stacks + page tables", "free"],
                 alpha=0.85)
    ax.plot(ts, col("available_bytes"), color="black", linewidth=1, label="available")
    ax.set_ylabel("GiB")
    host = rec.meta.get("hostname", "")
    ax.set_title(f"System memory — {host}" if host else "System memory")
    ax.legend(loc="upper left", fontsize=7, ncol=4)

    ax = axes[1]
    for proc_id, pid, command in procs:
        t, pss = rec.proc_series(proc_id, "pss_bytes")
        _, rss = rec.proc_series(proc_id, "rss_bytes")
        vals = [(p if p is not None else r) / (1 << 20) for p, r in zip(pss, rss)]
        ax.plot([dt.datetime.fromtimestamp(x) for x in t], vals, label=f"{pid} {command[:40]}")
    ax.set_ylabel("PSS, MiB")
    ax.set_title("Processes (PSS; RSS where PSS was not measured)")
    if procs:
        ax.legend(loc="upper left", fontsize=7)

    ax = axes[2]
    t, rate = rec.vmstat_series("pgfault")
    if t:
        ax.plot([dt.datetime.fromtimestamp(x) for x in t], [r or 0 for r in rate], label="system pgfault/s",
                color="gray")
    for proc_id, pid, command in procs:
        t, fps = rec.proc_series(proc_id, "faults_per_second")
        ax.plot([dt.datetime.fromtimestamp(x) for x in t], [f or 0 for f in fps], label=f"{pid} faults/s")
    ax.set_ylabel("faults / s")
    ax.set_ylim(bottom=0)
    ax.set_title("Page faults")
    ax.legend(loc="upper left", fontsize=7)

    ax = axes[3]
    if any(v is not None for v in sysd["psi_some_avg10"]):
        ax.plot(ts, [v or 0 for v in sysd["psi_some_avg10"]], label="some avg10")
        ax.plot(ts, [v or 0 for v in sysd["psi_full_avg10"]], label="full avg10")
        ax.legend(loc="upper left", fontsize=7)
    else:
        ax.text(0.5, 0.5, "PSI was unavailable while recording", ha="center", transform=ax.transAxes)
    ax.set_ylabel("% of time stalled")
    ax.set_ylim(bottom=0)
    ax.set_title("Memory pressure (PSI)")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    return fig


def plot(path: str, out: str, *, pids: list[int] | None = None, top: int = 5) -> str:
    """Write OUT (.png, .svg, .pdf or .html with the figure inline); returns OUT."""
    ext = os.path.splitext(out)[1].lower()
    if ext not in (".png", ".svg", ".pdf", ".html"):
        raise InvalidInput(f"cannot plot to {out!r}: use a .png, .svg, .pdf or .html file name")
    with Recording(path) as rec:
        procs = rec.procs_for_pids(pids) if pids else rec.top_processes(top)
        fig = _figure(rec, procs)
        import matplotlib.pyplot as plt

        try:
            if ext == ".html":
                import base64
                import html
                import io

                buf = io.BytesIO()
                fig.savefig(buf, format="png", dpi=110)
                info = rec.info()
                title = html.escape(f"memdive recording {os.path.basename(path)}")
                rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                               for k, v in sorted(info.meta.items()))
                doc = (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
                       f"<h1>{title}</h1><p>{info.samples} samples, {info.processes} processes</p>"
                       f"<img alt='memory over time' src='data:image/png;base64,"
                       f"{base64.b64encode(buf.getvalue()).decode()}'><table>{rows}</table></body></html>")
                with open(out, "w") as f:
                    f.write(doc)
            else:
                fig.savefig(out, dpi=110)
        except OSError as e:
            raise InvalidInput(f"cannot write {out}: {e.strerror}", path=out) from None
        finally:
            plt.close(fig)
    return out
