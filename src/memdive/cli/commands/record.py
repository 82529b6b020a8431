"""Record system and per-process memory into an SQLite file that outlives the incident.

Every --interval seconds: system memory (meminfo), PSI, vmstat counters and rates, and per process
RSS, swap and faults (fresh every sample) with PSS/USS (refreshed when the process's memory moved or the
figure is older than 10 s; each row keeps the figure's age). All processes, or only --pid ones (recording
then stops when they have all exited). The file is SQLite in WAL mode with a versioned schema, one
transaction per sample: killing the recorder (even with SIGKILL) leaves a file of whole samples.
Read it back with `memdive replay FILE.db` and `memdive plot FILE.db -o OUT.png`.
"""

from __future__ import annotations


def add_arguments(p) -> None:
    from ..common import parse_pid, parse_seconds, parse_seconds_or_zero

    p.add_argument("-o", "--output", required=True, metavar="FILE.db", help="the recording to write")
    p.add_argument("--interval", type=parse_seconds, default=1.0, metavar="S", help="seconds between samples (default 1)")
    p.add_argument("--duration", type=parse_seconds_or_zero, metavar="S", help="stop after S seconds (default: until Ctrl-C)")
    p.add_argument("--pid", type=parse_pid, action="append", metavar="PID",
                   help="only this process (repeatable; default: every process)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--append", action="store_true", help="continue an existing recording")
    g.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.add_argument("--quiet", action="store_true", help="no progress line")


def run(args) -> int:
    import signal
    import sys
    import threading
    import time

    from ...errors import InvalidInput
    from ...record import record

    if args.interval <= 0:
        raise InvalidInput("--interval must be > 0")
    if args.duration is not None and args.duration < 0:
        raise InvalidInput("--duration must be >= 0")
    from ..common import require_pids

    require_pids(args.pid)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    t0 = time.monotonic()
    tty = sys.stderr.isatty() and not args.quiet and not args.json

    def progress(snap, n):
        if tty:
            sys.stderr.write(f"\rmemdive record: {n} samples, {len(snap.processes)} processes, "
                             f"{time.monotonic() - t0:.0f} s  ")
            sys.stderr.flush()

    try:
        n = record(args.output, interval=args.interval, duration=args.duration, pids=args.pid,
                   append=args.append, overwrite=args.force, stop=stop, on_sample=progress)
    except KeyboardInterrupt:
        n = None
    if tty:
        sys.stderr.write("\n")
    from ...record import Recording

    with Recording(args.output) as r:
        info = r.info()
    if args.json:
        from ..common import emit_json

        emit_json(info)
    else:
        # with samples, first_time and last_time (min and max of t) are not None
        span = (info.last_time - info.first_time) if info.samples else 0.0  # type: ignore[operator]
        print(f"{args.output}: {info.samples} samples over {span:.1f} s, {info.processes} processes"
              + ("" if n is not None else " (interrupted)"))
    return 0
