"""A live full-screen view of memory: the system line and processes by PSS, USS, RSS, swap or faults/s.

System line: used/available, page cache, swap, PSI memory pressure, the fault rate. The process table
refreshes every --interval seconds. Keys: p/u/r/w/f/c sort by PSS/USS/RSS/swap/faults/CPU, / filter
(regular expression on command or user), Enter (or o) opens the selected process's maps summary,
+/- change the interval, q quits. RSS, swap and faults are fresh every interval; PSS/USS are re-read only
when a process's memory moves or its figure is older than 10 s (the Age column), which keeps the
sampler under 3% of a core at 1 s over 400 processes. Without root, other users' PSS shows as "-".
--once prints one sample as a table (or --json) without the full-screen view.
"""

from __future__ import annotations


def add_arguments(p) -> None:
    from ..common import parse_pid, parse_positive, parse_seconds

    p.add_argument("pattern", nargs="?", help="only processes whose command or user matches this regex")
    p.add_argument("--interval", type=parse_seconds, default=2.0, metavar="S", help="refresh every S seconds (default 2)")
    p.add_argument("--sort", choices=("pss", "uss", "rss", "swap", "faults", "cpu"), default="pss",
                   help="initial sort (default pss)")
    p.add_argument("--pid", type=parse_pid, action="append", metavar="PID", help="only this process (repeatable)")
    p.add_argument("--limit", type=parse_positive, default=150, metavar="N", help="rows kept in the table (default 150)")
    p.add_argument("--once", action="store_true",
                   help="print two samples' worth (rates need two) as a table and exit, no full-screen view")


def run(args) -> int:
    import re

    from ...errors import InvalidInput

    if args.interval <= 0:
        raise InvalidInput("--interval must be > 0")
    if args.pattern:
        try:
            re.compile(args.pattern)
        except re.error as e:
            raise InvalidInput(f"bad pattern {args.pattern!r}: {e}") from None
    from ..common import require_pids

    require_pids(args.pid)        # --pid of a process that is not there: say so, not an empty table
    if args.once or args.json:
        return _once(args)
    import sys

    if not sys.stdout.isatty():
        raise InvalidInput("memdive top needs a terminal", hint="use --once (or --json) for a one-shot table")
    from ...monitor.tui import TopApp

    TopApp(interval=args.interval, sort=args.sort, pattern=args.pattern, limit=args.limit, pids=args.pid).run()
    return 0


def _once(args) -> int:
    import time

    from ...monitor.sampler import Sampler, SamplerConfig
    from ...monitor.tui import COLUMNS, SORTS, row_of, system_line

    with Sampler(None, SamplerConfig(pids=args.pid, interval=args.interval)) as s:
        s.sample()
        time.sleep(min(args.interval, 1.0))
        snap = s.sample()
    procs = list(snap.processes)
    if args.pattern:
        rx = re.compile(args.pattern)
        procs = [p for p in procs if rx.search(p.command) or rx.search(p.user)]
    procs.sort(key=SORTS[args.sort][1], reverse=True)
    procs = procs[: args.limit]
    if args.json:
        from ...report.jsonout import to_jsonable
        from ..common import emit_json

        emit_json({"time": snap.time, "interval_seconds": snap.interval_seconds, "system": to_jsonable(snap.system),
                   "processes": to_jsonable(procs), "denied": snap.denied, "hint": snap.hint,
                   "stats": to_jsonable(snap.stats)})
        return 0
    from ...report.tables import console, table
    from ...report.text import escape

    c = console()
    c.print(system_line(snap))
    rows = [row_of(p)[:-1] + (escape(p.command, 70),) for p in procs]
    c.print(table(None, COLUMNS, rows, right=range(2, 9)))
    return 0


import re
