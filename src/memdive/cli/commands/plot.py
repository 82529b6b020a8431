"""Plot a recording: memory over time, to PNG, SVG, PDF or a self-contained HTML page.

Four panels: the system breakdown stacked (anonymous, page cache, shmem, slab, kernel, free, with
available), the chosen processes' PSS (--pid, repeatable; default the --top 5 by peak PSS), page
faults per second (system and processes), and PSI memory pressure.
"""

from __future__ import annotations


def add_arguments(p) -> None:
    from ..common import parse_pid, parse_positive

    p.add_argument("file", metavar="FILE.db", help="a recording made by `memdive record`")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="OUT.png, .svg, .pdf or .html")
    p.add_argument("--pid", type=parse_pid, action="append", metavar="PID", help="plot this process (repeatable)")
    p.add_argument("--top", type=parse_positive, default=5, metavar="N", help="without --pid: the N largest by peak PSS")


def run(args) -> int:
    from ...record.plot import plot

    out = plot(args.file, args.output, pids=args.pid, top=max(0, args.top))
    if args.json:
        from ..common import emit_json

        emit_json({"output": out})
    else:
        print(out)
    return 0
