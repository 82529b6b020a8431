"""Show a recording at a chosen time in the same tables as `memdive sys` and `memdive ps`.

--at picks the sample: end (default), start, +30s / +2m (after the first sample), -10s (before the
last), HH:MM[:SS] (local time) or an ISO date-time; the last sample at or before that time is shown.
--info prints only what the file holds. --csv DIR / --parquet DIR export every table (samples, system,
vmstat, processes) for other tools; Parquet needs pyarrow (optional: pip install pyarrow).
"""

from __future__ import annotations


def add_arguments(p) -> None:
    import re

    from ...ps import SORT_KEYS
    from ..common import parse_count, parse_pid

    # `--at -10s` (documented): argparse takes any '-x' word for an option unless it looks like a
    # negative number; teach this parser that -10s / -2m / -1.5h are values.
    p._negative_number_matcher = re.compile(r"^-\d*\.?\d+[smh]?$")
    p.add_argument("file", metavar="FILE.db", help="a recording made by `memdive record`")
    p.add_argument("--at", metavar="TIME", help="which moment (default: the last sample)")
    p.add_argument("--top", type=parse_count, default=20, metavar="N", help="the N largest processes (default 20; 0: all)")
    p.add_argument("--sort", choices=SORT_KEYS, default="pss", help="process sort key (default pss)")
    p.add_argument("--by", choices=("user", "command", "cgroup"), help="aggregate processes")
    p.add_argument("--pid", type=parse_pid, action="append", metavar="PID", help="only this process (repeatable)")
    p.add_argument("--info", action="store_true", help="only what the recording holds")
    p.add_argument("--check", action="store_true", help="run SQLite's integrity check on the file")
    p.add_argument("--csv", metavar="DIR", help="export every table as CSV into DIR")
    p.add_argument("--parquet", metavar="DIR", help="export every table as Parquet into DIR (needs pyarrow)")


def _when(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t).isoformat(sep=" ", timespec="seconds")


def run(args) -> int:
    from ...record import Recording

    with Recording(args.file) as rec:
        if args.check:
            problems = rec.check()
            if problems:
                from ...record import RecordingError

                raise RecordingError(f"{args.file}: integrity check failed: {'; '.join(problems[:3])}")
        if args.csv or args.parquet:
            paths = []
            if args.csv:
                paths += rec.export_csv(args.csv)
            if args.parquet:
                paths += rec.export_parquet(args.parquet)
            if args.json:
                from ..common import emit_json

                emit_json({"files": paths})
            else:
                for p in paths:
                    print(p)
            return 0
        info = rec.info()
        if args.info or args.check:
            if args.json:
                from ..common import emit_json

                emit_json(info)
            else:
                # with samples, first_time and last_time (min and max of t) are not None
                print(f"{args.file}: schema {info.schema_version}, {info.samples} samples, "
                      f"{info.processes} processes" + ("" if not info.samples else
                                                       f", {_when(info.first_time)} .. {_when(info.last_time)}"))  # type: ignore[arg-type]
                for k, v in sorted(info.meta.items()):
                    print(f"  {k}: {v}")
                if args.check:
                    print("integrity: ok")
            return 0
        sid, t = rec.sample_at(rec.parse_time(args.at))
        from ...ps import PsResult, aggregate, sort_processes, totals

        procs = sort_processes(rec.processes_at(sid, args.pid), args.sort)
        tot = totals(procs)
        groups = aggregate(procs, args.by) if args.by else None
        shown = procs[: args.top] if args.top else procs
        if groups is not None and args.top:
            groups = groups[: args.top]
        system = rec.system_at(sid, top=min(args.top or 5, 5))   # the overview lists no more than the table
        if args.json:
            from ...report.jsonout import to_jsonable
            from ...report.ps import ps_json
            from ..common import emit_json

            emit_json({"file": args.file, "sample_id": sid, "time": t, "system": to_jsonable(system),
                       "ps": ps_json(PsResult(procs), shown, groups, tot)})
            return 0
        from ...report.overview import overview_renderables
        from ...report.ps import ps_table
        from ...report.tables import console

        c = console()
        c.print(f"{args.file} at {_when(t)} (sample {sid} of {info.samples}, "
                f"{info.meta.get('hostname', '?')}, kernel {info.meta.get('kernel', '?')})")
        c.print()
        for r in overview_renderables(system):
            c.print(r)
            c.print()
        c.print(ps_table(shown, groups, args.by, tot))
    return 0
