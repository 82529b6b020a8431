"""NUMA nodes, a process's pages per node, migration, and running a command under a policy.

  memdive numa                      nodes: CPUs, memory total/free/used, distance matrix, numastat,
                                    per-node meminfo (--watch SECS: numastat rates per second)
  memdive numa PID                  the process's pages per node per region (numa_maps; file paths
                                    with spaces parsed right; hugetlb pages counted at their size),
                                    its memory policies, allowed nodes and CPUs
  memdive numa migrate PID --to N [--from M] --yes
                                    move its pages (move_pages: per-page status, failures by reason;
                                    --method migrate_pages: one call)
  memdive numa run --membind|--interleave|--preferred NODES [--cpunodebind NODES] -- CMD
                                    set the memory policy and CPU affinity, then exec CMD

Root unlocks: reading and migrating other users' processes (ptrace access, CAP_SYS_NICE), and
--all (MPOL_MF_MOVE_ALL: pages shared with other processes). Works on a one-node machine.
"""

from __future__ import annotations

import argparse

ACTIONS = ("nodes", "show", "migrate", "run")


class _Choices(dict):
    def __contains__(self, key) -> bool:     # a PID passes argparse's choice check
        return isinstance(key, str) and key.isdigit() or dict.__contains__(self, key)


class _PidOrAction(argparse._SubParsersAction):
    """`memdive numa PID` means `memdive numa show PID`."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._name_parser_map = self.choices = _Choices()

    def __call__(self, parser, namespace, values, option_string=None):
        if values and not dict.__contains__(self._name_parser_map, values[0]):
            values = ["show"] + list(values)
        super().__call__(parser, namespace, values, option_string)


def _common(sp) -> None:
    sp.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def add_arguments(p) -> None:
    from ..common import parse_count, parse_pid, parse_seconds

    p.add_argument("--watch", type=parse_seconds, nargs="?", const=1.0, metavar="SECS",
                   help="nodes view: repeat every SECS (default 1) with numastat rates")
    p.add_argument("--count", type=parse_count, default=0, metavar="N", help="with --watch: stop after N samples")
    p.add_argument("--no-meminfo", action="store_true", help="nodes view: leave out per-node meminfo")
    sub = p.add_subparsers(dest="action", metavar="[PID | nodes | migrate | run]", action=_PidOrAction)
    sn = sub.add_parser("nodes", help="the machine's NUMA nodes (the default)")
    _common(sn)
    ss = sub.add_parser("show", help="a process's pages per node (also: memdive numa PID)")
    _common(ss)
    ss.add_argument("pid", type=parse_pid, help="process ID")
    ss.add_argument("--all", action="store_true", help="every region, also those without resident pages")
    sm = sub.add_parser("migrate", help="move a process's pages to a node")
    _common(sm)
    sm.add_argument("pid", type=parse_pid, help="process ID")
    sm.add_argument("--to", type=int, required=True, metavar="NODE", help="target node")
    sm.add_argument("--from", dest="from_nodes", metavar="NODES", help="only pages on these nodes (default: all others)")
    sm.add_argument("--method", choices=("move_pages", "migrate_pages"), default="move_pages",
                    help="move_pages (default: per-page status) or migrate_pages (one call)")
    sm.add_argument("--all", action="store_true", help="also pages shared with other processes (needs root)")
    sm.add_argument("--yes", action="store_true", help="really move pages")
    sr = sub.add_parser("run", help="run CMD under a memory policy and CPU affinity")
    _common(sr)
    g = sr.add_mutually_exclusive_group(required=True)
    g.add_argument("--membind", "-m", metavar="NODES", help="allocate only on NODES (MPOL_BIND)")
    g.add_argument("--interleave", "-i", metavar="NODES", help="interleave pages over NODES (MPOL_INTERLEAVE)")
    g.add_argument("--preferred", "-p", metavar="NODES", help="prefer NODES, fall back elsewhere")
    g.add_argument("--localalloc", "-l", action="store_true", help="allocate on the node of the running CPU")
    c = sr.add_mutually_exclusive_group()
    c.add_argument("--cpunodebind", "-N", metavar="NODES", help="run only on the CPUs of NODES")
    c.add_argument("--physcpubind", "-C", metavar="CPUS", help="run only on CPUS")
    sr.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")


def run(args) -> int:
    action = getattr(args, "action", None) or "nodes"
    if action == "nodes":
        return _nodes(args)
    if action == "show":
        return _show(args)
    if action == "migrate":
        return _migrate(args)
    return _run(args)


def _nodes(args) -> int:
    import time

    from ...numa import node_rates, nodes

    if args.watch is None:
        from ...kernel.numa import read_numa_settings

        ns = nodes()
        settings = read_numa_settings()
        if args.json:
            from ...report.numa import nodes_json
            from ..common import emit_json

            emit_json(nodes_json(ns, settings=settings))
            return 0
        from ...report.numa import nodes_tables, settings_text
        from ...report.tables import console

        c = console()
        for t in nodes_tables(ns, meminfo=not args.no_meminfo):
            c.print(t)
            c.print()
        c.print(settings_text(settings))
        return 0
    if args.watch <= 0:
        from ...errors import InvalidInput

        raise InvalidInput("--watch needs a positive interval")
    prev, t_prev = nodes(), time.monotonic()
    i = 0
    while True:
        time.sleep(args.watch)
        cur, t = nodes(), time.monotonic()
        rates = node_rates(prev, cur, t - t_prev)
        if args.json:
            from ...report.numa import nodes_json
            from ..common import emit_json

            emit_json({"time": time.time(), **nodes_json(cur, rates)})
        else:
            from ...report.numa import nodes_tables
            from ...report.tables import console

            c = console()
            c.print(time.strftime("%H:%M:%S"))
            for tb in nodes_tables(cur, rates, meminfo=False)[2:3]:
                c.print(tb)
            c.print()
        prev, t_prev = cur, t
        i += 1
        if args.count and i >= args.count:
            return 0


def _show(args) -> int:
    from ...numa import placement

    p = placement(args.pid)
    if args.json:
        from ...report.numa import placement_json
        from ..common import emit_json

        emit_json(placement_json(p))
        return 0
    from ...report.numa import placement_tables
    from ...report.tables import console

    c = console()
    for t in placement_tables(p, all_regions=args.all):
        c.print(t)
        c.print()
    return 0


def _migrate(args) -> int:
    from ...numa import migrate, nodes, parse_nodes_arg
    from ..common import require_yes

    src = parse_nodes_arg(args.from_nodes, nodes(), what="--from") if args.from_nodes else None
    require_yes(args, f"moving the pages of process {args.pid}")
    r = migrate(args.pid, args.to, src, method=args.method, move_all=args.all)
    if args.json:
        from ..common import emit_json

        emit_json(r)
        return 0
    from ...report.numa import migration_text

    print("\n".join(migration_text(r)))
    return 0 if not r.failures else 1


def _run(args) -> int:
    from ...numa.run import apply_policy, check_command, exec_argv, prepare_policy

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    check_command(cmd)
    policy, cpus = prepare_policy(membind=args.membind, interleave=args.interleave, preferred=args.preferred,
                                  localalloc=args.localalloc, cpunodebind=args.cpunodebind,
                                  physcpubind=args.physcpubind)
    apply_policy(policy, cpus)
    exec_argv(cmd)
    return 1   # not reached
