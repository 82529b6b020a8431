"""Memory fragmentation and compaction.

Free blocks per node, zone and order (/proc/buddyinfo) with a picture of free memory by block size; the
kernel's unusable free space index and fragmentation index per order (computed as mm/vmstat.c does for
debugfs extfrag/); free blocks and pageblocks per migrate type (/proc/pagetypeinfo, root; '>100000'
counts handled); compaction counters (stall, fail, success, migrate/free scanned) and vm.* settings.

  memdive frag [--node N] [--pagetypes] [--no-picture]
  memdive frag --compact [--node N] --yes      compact (root) and show before and after
"""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--node", type=int, metavar="N", help="only NUMA node N")
    p.add_argument(
        "--pagetypes", action="store_true", help="also free blocks per migrate type and order (root)"
    )
    p.add_argument("--no-picture", action="store_true", help="no per-zone picture, only the summary tables")
    p.add_argument(
        "--compact",
        action="store_true",
        help="trigger compaction (all nodes, or --node) and report before and after",
    )
    p.add_argument("--yes", action="store_true", help="really compact")


def run(args) -> int:
    from ...errors import InvalidInput
    from ..common import emit_json

    if args.node is not None and args.node < 0:
        raise InvalidInput(f"not a node: {args.node}")
    if args.compact:
        from ...frag import compact
        from ..common import require_yes

        require_yes(args, "compaction")
        res = compact(args.node)
        if args.json:
            from ...report.frag import compact_json

            emit_json(compact_json(res))
            return 0
        from ...report.frag import compact_renderables
        from ...report.tables import console

        c = console()
        for r in compact_renderables(res):
            c.print(r)
            c.print()
        return 0
    from ...frag import frag

    f = frag(node=args.node)
    if args.json:
        from ...report.frag import frag_json

        emit_json(frag_json(f))
        return 0
    from ...report.frag import frag_renderables
    from ...report.tables import console

    c = console()
    for r in frag_renderables(f, picture=not args.no_picture, pagetypes=args.pagetypes):
        c.print(r)
        c.print()
    return 0
