"""Transparent huge pages: the system's settings and counters, a process's use, and collapse.

memdive thp                      THP enabled/defrag/shmem_enabled, khugepaged knobs and progress, every
                                 multi-size THP size (hugepages-*kB) with its setting and stats, THP
                                 counters from /proc/vmstat, and meminfo's huge-page lines.
memdive thp PID                  per region: AnonHugePages, ShmemPmdMapped, FilePmdMapped, THPeligible,
                                 MADV_HUGEPAGE/NOHUGEPAGE; the share of anonymous memory on huge pages;
                                 for each large region without huge pages the likely reason (mode madvise
                                 and not advised, too small or misaligned, defrag setting, not yet collapsed).
memdive thp collapse PID [--range START-END] --yes
                                 process_madvise(MADV_COLLAPSE) (Linux 6.1+, root) on the range or on every
                                 candidate region; reports what was collapsed, read back from smaps.
"""

from __future__ import annotations


def add_arguments(p) -> None:
    from ..common import parse_range, parse_size

    p.add_argument(
        "target", nargs="*", metavar="PID | collapse PID", help="a process to examine, or `collapse PID`"
    )
    p.add_argument(
        "--min",
        type=parse_size,
        default=None,
        metavar="SIZE",
        help="show candidate regions without huge pages from SIZE up (default: the huge page size)",
    )
    p.add_argument("--all", action="store_true", help="show every mapping of the process")
    p.add_argument(
        "--range",
        type=parse_range,
        metavar="START-END",
        help="collapse only this hex address range (default: every candidate region)",
    )
    p.add_argument("--yes", action="store_true", help="really collapse (it changes the target's memory)")


def _targets(args):
    import argparse

    from ...errors import InvalidInput
    from ..common import parse_pid

    t = list(args.target)
    action = "show"
    if t and t[0] == "collapse":
        action = "collapse"
        t = t[1:]
        if len(t) != 1:
            raise InvalidInput("usage: memdive thp collapse PID [--range START-END] --yes")
    if len(t) > 1:
        raise InvalidInput(f"one PID at a time (got {' '.join(t)})")
    pid = None
    if t:
        try:
            pid = parse_pid(t[0])
        except argparse.ArgumentTypeError:
            raise InvalidInput(f"not a PID: {t[0]!r}") from None
    return action, pid


def run(args) -> int:
    from ..common import emit_json

    action, pid = _targets(args)
    if action != "collapse" and args.range is not None:
        from ...errors import InvalidInput

        raise InvalidInput("--range goes with `memdive thp collapse PID`")
    if action == "collapse":
        from ...hugepages.thp import collapse
        from ..common import require_yes

        require_yes(args, "collapsing a process's memory into huge pages")
        start, end = args.range if args.range else (None, None)
        results = collapse(pid, start, end)
        if args.json:
            from ...report.hugepages import collapse_json

            emit_json(collapse_json(results))
        else:
            from ...report.hugepages import collapse_renderables
            from ...report.tables import console

            c = console()
            if not results:
                c.print(f"process {pid} has no region holding a whole aligned huge page range to collapse")
            for r in collapse_renderables(results):
                c.print(r)
        return 0 if all(r.ok for r in results) else 1
    if pid is None:
        from ...hugepages.thp import thp_system

        s = thp_system()
        if args.json:
            emit_json(s)
            return 0
        from ...report.hugepages import thp_system_renderables
        from ...report.tables import console

        c = console()
        for r in thp_system_renderables(s):
            c.print(r)
            c.print()
        return 0
    from ...hugepages.thp import thp_process

    p = thp_process(pid)
    min_bytes = args.min if args.min is not None else p.pmd_size_bytes
    if args.json:
        from ...report.hugepages import thp_process_json

        emit_json(thp_process_json(p, min_bytes, args.all))
        return 0
    from ...report.hugepages import thp_process_renderables
    from ...report.tables import console

    c = console()
    for r in thp_process_renderables(p, min_bytes, args.all):
        c.print(r)
    return 0
