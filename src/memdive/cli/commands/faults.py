"""Minor and major page faults: totals and per-interval rates of processes (/proc/PID/stat),
system-wide (/proc/vmstat pgfault, pgmajfault), or of a command run to completion (its rusage at
exit, plus samples while it runs). On a terminal one live line is updated (the seed's
page_fault_monitor); otherwise, and with --json, one sample per interval.

Examples:
  memdive faults 1234 5678 --interval 1 --count 10
  memdive faults --system --duration 5
  memdive faults -- make -j2
"""

from __future__ import annotations


def add_arguments(p) -> None:
    from ..common import parse_positive, parse_seconds

    p.add_argument("targets", nargs="*", metavar="PID | -- CMD",
                   help="process IDs, or after -- a command to run and measure")
    p.add_argument("--system", action="store_true", help="also (or only) system-wide faults from /proc/vmstat")
    p.add_argument("--interval", type=parse_seconds, default=1.0, metavar="S", help="seconds per sample (default 1)")
    p.add_argument("--duration", type=parse_seconds, default=None, metavar="S", help="stop after S seconds")
    p.add_argument("--count", type=parse_positive, default=None, metavar="N", help="stop after N samples")


def _line(ss) -> str:
    return "  ".join(f"{'system' if s.pid is None else s.pid}: minor {s.minflt} ({s.minflt_per_second:,.0f}/s) "
                     f"major {s.majflt} ({s.majflt_per_second:,.0f}/s)" for s in ss)


def run(args) -> int:
    import sys

    from ...errors import InvalidInput
    from ...pages import faults

    if args.interval <= 0:
        raise InvalidInput("--interval must be > 0")
    tty = sys.stdout.isatty() and not args.json
    if args.targets and not all(t.isdigit() for t in args.targets):
        def show(s):
            if tty:
                sys.stdout.write("\r" + _line([s]) + "\033[K")
                sys.stdout.flush()

        res = faults.run_command(args.targets, interval=args.interval, on_sample=show)
        if args.json:
            from ..common import emit_json

            emit_json(res)
        else:
            if tty:
                sys.stdout.write("\n")
            from ...report.text import describe_exit, human_bytes

            print(f"command ended ({describe_exit(res.returncode)}) after {res.wall_seconds:.3f} s: "
                  f"minor faults {res.minflt}, major faults {res.majflt} (rusage), max RSS "
                  f"{human_bytes(res.maxrss_bytes)}, user {res.user_seconds:.3f} s, system {res.system_seconds:.3f} s")
        # the command's own status, as time(1) gives it (128 + N for a signal)
        return res.returncode if res.returncode >= 0 else 128 - res.returncode
    pids: list[int | None] = [int(t) for t in args.targets]
    if args.system or not pids:
        pids.append(None)
    count = args.count
    if count is None and args.duration is None and not tty:
        count = 5
    out = []
    try:
        for ss in faults.sample(pids, interval=args.interval, duration=args.duration, count=count):
            if args.json:
                out.extend(ss)
            elif tty:
                sys.stdout.write("\r" + _line(ss) + "\033[K")
                sys.stdout.flush()
            else:
                print(f"{ss[0].time_seconds:8.2f}s  " + _line(ss), flush=True)
    except KeyboardInterrupt:
        pass
    if tty:
        sys.stdout.write("\n")
    if args.json:
        from ..common import emit_json

        emit_json({"samples": out})
    return 0
