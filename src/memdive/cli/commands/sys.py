"""The machine's memory at a glance: free + vmstat + PSI in one view.

Total, used, free, available, buffers, page cache, shmem, slab, kernel stacks, page tables,
anonymous and THP, hugetlb pools, committed vs commit limit, swap; the vmstat counters that matter
(faults, swap, reclaim, compaction, THP, OOM kills); PSI memory pressure; the top processes by PSS.
`memdive` with no command runs this.
"""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--top", type=int, default=5, metavar="N", help="top N processes by PSS (0: none)")
    p.add_argument("--interval", type=float, default=0.0, metavar="S",
                   help="also show vmstat rates per second over S seconds")


def run(args) -> int:
    from ...errors import InvalidInput
    from ...overview import system

    # The renderer is loaded before system() waits for the process scan the command line started,
    # so its imports overlap the reads.
    if args.json:
        from ..common import emit_json
    else:
        from ...report.overview import overview_renderables
        from ...report.tables import console

        c = console()
    if args.top < 0:
        raise InvalidInput(f"--top must be 0 or more, not {args.top}")
    if not 0.0 <= args.interval < float("inf"):       # also refuses nan: inf would overflow the sleep
        raise InvalidInput(f"--interval must be a finite number of seconds >= 0, not {args.interval}")
    s = system(top=args.top, interval=args.interval)
    if args.json:
        emit_json(s)
        return 0
    for r in overview_renderables(s):
        c.print(r)
        c.print()
    return 0
