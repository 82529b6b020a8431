"""hugetlb pools and hugetlbfs mounts; reserve and release pages; check what MAP_HUGETLB gets.

  memdive hugetlb                           pools per page size and per node (total, free, in use, reserved,
                                            surplus, overcommit) and hugetlbfs mounts
  memdive hugetlb --reserve N [--size 2M|1G] [--node K] --yes
                                            grow the pool by N pages; the outcome is read back (the kernel may
                                            give fewer when memory is fragmented: it says how many short)
  memdive hugetlb --release [N] [--size ...] [--node K] --yes
                                            shrink the pool by N pages (default: every free page)
  memdive hugetlb --set N [--size ...] [--node K] --yes
                                            set the pool to exactly N pages
  memdive hugetlb check [--size 2M|1G] [--count N] [--no-fallback]
                                            map N pages with MAP_HUGETLB, touch them, report what the kernel
                                            gave (from smaps); when it fails, map the same length with
                                            MADV_HUGEPAGE and say how much THP it got instead (never silently)
Changing a pool needs root.
"""

from __future__ import annotations


def add_arguments(p) -> None:
    from ..common import parse_size

    p.add_argument(
        "action", nargs="?", choices=("show", "check"), default="show", help="show (default) or check"
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--reserve", type=int, metavar="N", help="add N pages to the pool")
    g.add_argument(
        "--release",
        type=int,
        nargs="?",
        const=-1,
        metavar="N",
        help="remove N pages from the pool (no N: every free page)",
    )
    g.add_argument("--set", type=int, metavar="N", help="set the pool to N pages")
    p.add_argument(
        "--size", type=parse_size, metavar="SIZE", help="huge page size (default: the kernel's, 2M)"
    )
    p.add_argument("--node", type=int, metavar="K", help="the pool of NUMA node K only")
    p.add_argument("--count", type=int, default=1, metavar="N", help="check: how many huge pages to map (1)")
    p.add_argument("--no-fallback", action="store_true", help="check: do not try THP when MAP_HUGETLB fails")
    p.add_argument("--yes", action="store_true", help="really change the pool")
    p.add_argument(
        "--force",
        action="store_true",
        help="grow the pool even beyond 90%% of MemAvailable (risks OOM kills)",
    )


def run(args) -> int:
    from ...errors import InvalidInput
    from ...hugepages import hugetlb as h
    from ..common import emit_json

    if args.action == "check":
        if args.reserve is not None or args.release is not None or args.set is not None:
            raise InvalidInput("check does not change pools: run --reserve first, then check")
        res = h.check(args.size, count=args.count, fallback=not args.no_fallback)
        if args.json:
            emit_json(res)
        else:
            from ...report.hugepages import check_text

            print(check_text(res))
        return 0 if res.hugetlb_ok else 1
    change = None
    if args.reserve is not None or args.release is not None or args.set is not None:
        from ..common import require_yes

        require_yes(args, "changing a hugetlb pool")
        size = args.size or h.default_size()
        for v in (args.reserve, args.set):
            if v is not None and v < 0:
                raise InvalidInput(f"a page count cannot be negative: {v}")
        if args.release is not None and args.release < -1:
            raise InvalidInput(f"a page count cannot be negative: {args.release}")
        if args.reserve is not None:
            change = h.reserve(size, args.reserve, args.node, force=args.force)
        elif args.set is not None:
            change = h.set_pool(size, args.set, args.node, force=args.force)
        else:
            change = h.release(size, None if args.release == -1 else args.release, args.node)
    s = h.hugetlb_system()
    if change is None and args.size is not None:  # --size / --node alone: filters of the view
        import dataclasses

        if not any(p.size_bytes == args.size for p in s.pools):
            raise InvalidInput(f"no hugetlb pool of {args.size // 1024} kB on this kernel")
        s = dataclasses.replace(s, pools=tuple(p for p in s.pools if p.size_bytes == args.size))
    if (
        change is None
        and args.node is not None
        and not any(n.node == args.node for p in s.pools for n in p.nodes)
    ):
        raise InvalidInput(f"node {args.node} has no hugetlb pools")
    if args.json:
        from ...report.jsonout import to_jsonable

        d = to_jsonable(s)
        assert isinstance(d, dict)
        if change is not None:
            ch = to_jsonable(change)
            assert isinstance(ch, dict)
            d["change"] = {**ch, "complete": change.complete, "shortfall": change.shortfall}
        emit_json(d)
        return 0 if change is None or change.complete else 1
    from ...report.hugepages import hugetlb_renderables, pool_change_text
    from ...report.tables import console

    c = console()
    if change is not None:
        c.print(pool_change_text(change))
        c.print()
    for r in hugetlb_renderables(s, args.node):
        c.print(r)
    return 0 if change is None or change.complete else 1
