"""`memdive top`: a live full-screen view (textual).

A system line (used/available, page cache, swap, PSI, fault rate) and the processes sorted by PSS, USS,
RSS, swap, faults/s or CPU, refreshed every interval by the cheap sampler (memdive.monitor.sampler) in a
worker thread. Keys: p u r w f c sort · / filter · Enter or o open a process's maps summary · +/- interval · q quit.
The "age" column is how old the process's PSS/USS figure is: RSS, swap and faults are fresh every interval,
PSS/USS are re-read when the process's memory moves or the figure is older than 10 s.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Static

from ..models.monitor import ProcSample, Snapshot
from ..report.text import escape, human_bytes

SORTS: dict[str, tuple[str, Callable[[ProcSample], float]]] = {
    "pss": ("PSS", lambda p: p.pss_bytes if p.pss_bytes is not None else -1),
    "uss": ("USS", lambda p: p.uss_bytes if p.uss_bytes is not None else -1),
    "rss": ("RSS", lambda p: p.rss_bytes),
    "swap": ("Swap", lambda p: p.swap_bytes),
    "faults": ("Flt/s", lambda p: p.faults_per_second or 0.0),
    "cpu": ("CPU%", lambda p: p.cpu_percent or 0.0),
}
COLUMNS = ("PID", "User", "RSS", "PSS", "USS", "Swap", "Flt/s", "CPU%", "Age", "Command")


def system_line(snap: Snapshot) -> Text:
    s = snap.system
    tot = s.total_bytes or 1
    t = Text()
    t.append("mem ", style="bold")
    t.append(f"{human_bytes(s.used_bytes)} used / {human_bytes(s.total_bytes)} "
             f"({100 * s.used_bytes / tot:.0f}%)  avail {human_bytes(s.available_bytes)}  "
             f"cache {human_bytes(s.cached_bytes)}  ")
    t.append("swap ", style="bold")
    t.append(f"{human_bytes(s.swap_used_bytes)} / {human_bytes(s.mem('SwapTotal'))}  " if s.mem("SwapTotal")
             else "none  ")
    t.append("PSI ", style="bold")
    if s.pressure is not None:
        full = s.pressure.full.avg10 if s.pressure.full else 0.0
        style = "red" if s.pressure.some.avg10 >= 10 else ("yellow" if s.pressure.some.avg10 > 0 else "")
        t.append(f"some {s.pressure.some.avg10:.2f}% full {full:.2f}% (avg10)  ", style=style)
    else:
        t.append("unavailable  ")
    if s.vmstat_rates:
        t.append("faults ", style="bold")
        t.append(f"{s.vmstat_rates.get('pgfault', 0):,.0f}/s (major {s.vmstat_rates.get('pgmajfault', 0):,.0f}/s)")
    st = snap.stats
    t.append(f"\n{len(snap.processes)} processes")
    if snap.denied:
        t.append(f" ({snap.denied} without PSS" + (": run as root)" if os.geteuid() else ")"), style="yellow")
    if st is not None:
        t.append(f" · sample {st.cpu_seconds * 1e3:.1f} ms CPU, {st.rollups} PSS refreshed"
                 + (f", {st.rollups_pending} due" if st.rollups_pending else ""))
    return t


def _age(p: ProcSample) -> str:
    if p.pss_age_seconds is None:
        return "-" if p.pss_note is None else "n/a"
    return f"{p.pss_age_seconds:.0f}s"


def row_of(p: ProcSample) -> tuple:
    return (str(p.pid), escape(p.user, 12), human_bytes(p.rss_bytes),
            human_bytes(p.pss_bytes) if p.pss_bytes is not None else "-",
            human_bytes(p.uss_bytes) if p.uss_bytes is not None else "-", human_bytes(p.swap_bytes),
            f"{p.faults_per_second:,.0f}" if p.faults_per_second is not None else "-",
            f"{p.cpu_percent:.1f}" if p.cpu_percent is not None else "-", _age(p), escape(p.command, 200))


_NUMERIC = frozenset((0, 2, 3, 4, 5, 6, 7, 8))


def _justify(row: tuple) -> tuple:
    return tuple(Text(v, justify="right") if i in _NUMERIC else v for i, v in enumerate(row))


class MapsScreen(ModalScreen):
    """A process's maps summary (memdive.maps.summarize): by kind, by file, by permission."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "dismiss", "back")]

    def __init__(self, pid: int, command: str, root=None):
        super().__init__()
        self.pid = pid
        self.command = command
        self.root = root

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="maps"):
            yield Static(self._render_summary(), id="maps-body")
        yield Footer()

    def _render_summary(self):
        from rich.console import Group

        from ..errors import MemdiveError
        from ..maps import summarize
        from ..process import Process
        from ..report.maps import summary_tables

        head = Text(f"PID {self.pid}  {escape(self.command, 200)}\n", style="bold")
        try:
            proc = Process(self.pid, self.root)
            summary = summarize(proc.maps(), exe=proc.exe())
        except MemdiveError as e:
            return Group(head, Text(f"cannot read its maps: {e.one_line()}", style="red"))
        t = summary.totals
        foot = Text(f"RSS {human_bytes(t.rss_bytes)}  PSS {human_bytes(t.pss_bytes)}  USS {human_bytes(t.uss_bytes)}  "
                    f"Swap {human_bytes(t.swap_bytes)}   (Esc to go back)")
        return Group(head, *summary_tables(summary), foot)


class TopApp(App):
    TITLE = "memdive top"
    CSS = """
    #system { height: 2; padding: 0 1; }
    #filter { display: none; }
    #filter.shown { display: block; }
    #procs { height: 1fr; }
    MapsScreen { align: center middle; }
    #maps { width: 95%; height: 90%; border: round $accent; background: $surface; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("p", "sort('pss')", "PSS"), Binding("u", "sort('uss')", "USS"), Binding("r", "sort('rss')", "RSS"),
        Binding("w", "sort('swap')", "swap"), Binding("f", "sort('faults')", "faults/s"),
        Binding("c", "sort('cpu')", "CPU"),
        Binding("slash", "filter", "filter"), Binding("o", "open", "maps (or Enter)"),
        Binding("plus", "interval(0.5)", "slower", show=False), Binding("minus", "interval(-0.5)", "faster", show=False),
        Binding("escape", "clear_filter", "clear filter", show=False),
    ]

    def __init__(self, *, interval: float = 2.0, sort: str = "pss", pattern: str | None = None, limit: int = 150,
                 root=None, pids: list[int] | None = None):
        super().__init__()
        from .sampler import Sampler, SamplerConfig

        self.interval = interval
        self.sort = sort
        self.pattern = pattern
        self.limit = limit
        self.root = root
        self.sampler = Sampler(root, SamplerConfig(interval=interval, pids=pids))
        self.snapshot: Snapshot | None = None
        self.shown: list[ProcSample] = []
        self._rows: list[tuple] = []
        self._busy = False
        self._timer: Any = None
        self.samples = 0

    def compose(self) -> ComposeResult:
        yield Static("sampling…", id="system")
        yield Input(placeholder="filter: regular expression on command or user (Enter to apply, Esc to clear)",
                    id="filter")
        yield DataTable(id="procs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    async def on_mount(self) -> None:
        table = self.query_one("#procs", DataTable)
        for c in COLUMNS:
            table.add_column(c, key=c)
        await self.tick()
        self._timer = self.set_interval(self.interval, self.tick)
        table.focus()

    async def tick(self) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            snap = await asyncio.to_thread(self.sampler.sample)
        except Exception as e:  # noqa: BLE001 - MemdiveError (broken /proc) or a bug: show it, keep running
            self.query_one("#system", Static).update(Text(f"sampling failed: {e}", style="red"))
            return
        finally:
            self._busy = False
        self.snapshot = snap
        self.samples += 1
        self.refresh_view()

    def rows_for(self, snap: Snapshot) -> list[ProcSample]:
        procs = list(snap.processes)
        if self.pattern:
            try:
                rx = re.compile(self.pattern)
            except re.error:
                rx = re.compile(re.escape(self.pattern))
            procs = [p for p in procs if rx.search(p.command) or rx.search(p.user)]
        key = SORTS[self.sort][1]
        procs.sort(key=key, reverse=True)       # type: ignore[call-overload]
        return procs[: self.limit]

    def refresh_view(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        self.query_one("#system", Static).update(system_line(snap), layout=False)   # fixed height
        table = self.query_one("#procs", DataTable)
        keep = None
        if table.row_count and 0 <= table.cursor_row < len(self.shown):
            keep = self.shown[table.cursor_row].pid
        prev = [p.pid for p in self.shown]
        self.shown = self.rows_for(snap)
        rows = [row_of(p) for p in self.shown]
        if prev == [p.pid for p in self.shown] and len(self._rows) == len(rows):
            # Same rows in the same order: touch only the cells that changed (a full rebuild of the table
            # is what costs most CPU in a refresh).
            from textual.coordinate import Coordinate

            for r, (old, new) in enumerate(zip(self._rows, rows)):
                if old != new:
                    for c, (a, b) in enumerate(zip(old, new)):
                        if a != b:
                            table.update_cell_at(Coordinate(r, c), Text(b, justify="right") if c in _NUMERIC else b)
        else:
            table.clear()
            table.add_rows([_justify(r) for r in rows])
        self._rows = rows
        label = SORTS[self.sort][0]
        self.sub_title = (f"sorted by {label} · every {self.interval:g} s"
                          + (f" · filter /{self.pattern}/" if self.pattern else ""))
        if keep is not None:
            for i, p in enumerate(self.shown):
                if p.pid == keep:
                    table.move_cursor(row=i)
                    break

    def action_sort(self, key: str) -> None:
        self.sort = key
        self.refresh_view()

    def action_filter(self) -> None:
        inp = self.query_one("#filter", Input)
        inp.add_class("shown")
        inp.value = self.pattern or ""
        inp.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.pattern = event.value or None
        event.input.remove_class("shown")
        self.query_one("#procs", DataTable).focus()
        self.refresh_view()

    def action_clear_filter(self) -> None:
        inp = self.query_one("#filter", Input)
        inp.remove_class("shown")
        self.pattern = None
        self.query_one("#procs", DataTable).focus()
        self.refresh_view()

    def action_interval(self, delta: float) -> None:
        self.interval = min(60.0, max(0.5, self.interval + delta))
        self.sampler.config.interval = self.interval
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_interval(self.interval, self.tick)
        self.refresh_view()

    def selected(self) -> ProcSample | None:
        table = self.query_one("#procs", DataTable)
        if not self.shown or not 0 <= table.cursor_row < len(self.shown):
            return None
        return self.shown[table.cursor_row]

    def action_open(self) -> None:
        p = self.selected()
        if p is not None:
            self.push_screen(MapsScreen(p.pid, p.command, self.root))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def on_unmount(self) -> None:
        self.sampler.close()
