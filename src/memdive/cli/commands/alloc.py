"""Allocation: choose an allocator by measurement, and see what a placed buffer really gets.

  memdive alloc compare [--allocators glibc,jemalloc,tcmalloc,mimalloc] [--repeat N] -- CMD [ARGS...]
      runs CMD under each malloc present (LD_PRELOAD), alternating them round by round, and compares wall
      time, CPU time, peak RSS, RSS at exit and page faults (medians). Missing allocators are listed with
      the Debian package that brings them; a run whose malloc did not come from the asked library is flagged.
  memdive alloc buffer SIZE [--pages 4k|thp|hugetlb|auto] [--node N] [--lock] [--populate] [--fallback thp]
      allocates a buffer in memdive's own process as memdive.alloc.buffer() would and prints what it really
      got, measured from pagemap, smaps and numa_maps (a demonstration of the Python API).
  memdive alloc allocators
      which allocators this machine has.

No root needed. Root (or CAP_IPC_LOCK) lifts RLIMIT_MEMLOCK for --lock; reserving hugetlb pages needs root.
"""

from __future__ import annotations

import argparse


def add_arguments(p) -> None:
    from ..common import parse_seconds, parse_size

    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    c = sub.add_parser("compare", help="run a command under each allocator and compare",
                       description="Run CMD under glibc, jemalloc, tcmalloc and mimalloc and compare.")
    c.add_argument("--allocators", default="glibc,jemalloc,tcmalloc,mimalloc",
                   help="comma-separated: glibc, jemalloc, tcmalloc, mimalloc or LABEL=/path/lib.so")
    c.add_argument("--repeat", type=int, default=3, metavar="N", help="rounds (default 3); medians are shown")
    c.add_argument("--warmup", type=int, default=0, metavar="N", help="unmeasured rounds first (default 0)")
    c.add_argument("--timeout", type=parse_seconds, metavar="SECONDS", help="kill a run that takes longer")
    c.add_argument("--show-output", action="store_true", help="let the command's output through")
    c.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    c.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    b = sub.add_parser("buffer", help="allocate a buffer here and report what it really got")
    b.add_argument("size", type=parse_size, help="bytes (4096, 64k, 2M, 1G)")
    b.add_argument("--pages", choices=("4k", "thp", "hugetlb", "auto"), default="auto")
    b.add_argument("--node", type=int, action="append", help="bind to this NUMA node (repeatable)")
    b.add_argument("--policy", choices=("bind", "preferred", "preferred_many", "interleave"), default="bind",
                   help="how --node applies (mbind mode; default bind)")
    b.add_argument("--lock", action="store_true", help="mlock the buffer")
    b.add_argument("--populate", action="store_true", help="fault every page in now")
    b.add_argument("--fallback", choices=("thp", "4k"), help="if hugetlb fails, fall back to this")
    b.add_argument("--touch", action="store_true", help="write every byte (instead of --populate)")
    b.add_argument("--advise", action="append", default=[], metavar="ADVICE",
                   help="madvise after populating (pageout, dontneed, cold, ...; repeatable)")
    b.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    a = sub.add_parser("allocators", help="which allocators this machine has")
    a.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _compare(args) -> int:
    import sys

    from ...alloc.compare import compare
    from ...errors import InvalidInput

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise InvalidInput("no command given: memdive alloc compare [options] -- CMD [ARGS...]")
    names = [n for n in args.allocators.split(",") if n.strip()]
    tty = not args.json and sys.stderr.isatty()

    def progress(r) -> None:
        sys.stderr.write(f"\r  round {r.round + 1}/{args.repeat}: {r.allocator:<10}")
        sys.stderr.flush()

    res = compare(cmd, names, args.repeat, timeout=args.timeout, output=args.show_output, warmup=args.warmup,
                  progress=progress if tty else None)
    if tty:
        sys.stderr.write("\r" + " " * 40 + "\r")
    return _emit(args, res, "compare_table", "compare_lines")


def _buffer(args) -> int:
    from ...alloc.buffer import buffer

    node = tuple(args.node) if args.node else None
    with buffer(args.size, pages=args.pages, node=node, policy=args.policy, lock=args.lock, populate=args.populate,
                fallback=args.fallback) as buf:
        if args.touch:
            arr = buf.numpy()
            arr[:] = 1
            del arr
        for adv in args.advise:
            buf.advise(adv)
        rep = buf.report()
    return _emit(args, rep, "buffer_table", "buffer_lines")


def _allocators(args) -> int:
    from ...alloc.compare import allocators

    return _emit(args, allocators(), "allocators_table", None)


def _emit(args, obj, table_fn: str, lines_fn: str | None) -> int:
    """JSON, or the renderer's table followed by its lines (report.alloc functions by name)."""
    if args.json:
        from ..common import emit_json

        emit_json(obj)
        return 0
    from ...report import alloc as render
    from ...report.tables import console

    c = console()
    c.print(getattr(render, table_fn)(obj))
    for line in getattr(render, lines_fn)(obj) if lines_fn else ():
        c.print(line, markup=False)
    return 0


def run(args) -> int:
    return {"compare": _compare, "buffer": _buffer, "allocators": _allocators}[args.action](args)
