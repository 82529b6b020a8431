"""The kernel's memory controls for a process: OOM score, memory limits, overcommit, and running a
command with them set (choom, prlimit, sysctl vm.overcommit_*, setarch -R).

  memdive ctl oom PID [--set N --yes]      oom_score and oom_score_adj; --set writes through the pinned
                                           process (its /proc dir fd + pidfd, start time checked)
  memdive ctl limits PID [--lock SIZE]     RLIMIT_MEMLOCK/AS/DATA/STACK, locked memory, and what locking
                                           SIZE more would need; --memlock/--as/--data/--stack SOFT[:HARD]
                                           --yes set them (prlimit; sizes or 'unlimited')
  memdive ctl overcommit [--policy 0|1|2] [--ratio N] [--kbytes N] --yes
                                           policy, ratio or kbytes, CommitLimit vs Committed_AS, explained
  memdive ctl run [--no-aslr] [--legacy-layout] [--memlock SIZE] [--oom-score-adj N] -- CMD
                                           personality(ADDR_NO_RANDOMIZE), limits and OOM score, then exec

Every write needs --yes. Root unlocks: other users' processes, lowering oom_score_adj and raising hard
limits (CAP_SYS_RESOURCE), and the overcommit sysctls.
"""

from __future__ import annotations

import argparse


def _size_or_unlimited(text: str):
    from ..common import parse_size

    return None if text.strip().lower() in ("unlimited", "infinity", "inf") else parse_size(text)


def _soft_hard(text: str):
    """'SOFT' or 'SOFT:HARD' (each a size or 'unlimited') -> (soft, hard or False for 'keep')."""
    soft, sep, hard = text.partition(":")
    return (_size_or_unlimited(soft), _size_or_unlimited(hard) if sep else False)


def _common(sp) -> None:
    sp.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def add_arguments(p) -> None:
    from ..common import parse_pid, parse_size

    sub = p.add_subparsers(dest="action", metavar="{oom,limits,overcommit,run}", required=True)
    so = sub.add_parser("oom", help="oom_score and oom_score_adj (choom)")
    _common(so)
    so.add_argument("pid", type=parse_pid)
    so.add_argument("--set", type=int, metavar="N", help="set oom_score_adj to N (-1000..1000); needs --yes")
    so.add_argument("--yes", action="store_true")
    sl = sub.add_parser("limits", help="memory rlimits, locked memory (prlimit)")
    _common(sl)
    sl.add_argument("pid", type=parse_pid)
    sl.add_argument("--lock", type=parse_size, metavar="SIZE", help="what locking SIZE more would need")
    for name, dest in (("--memlock", "memlock"), ("--as", "as_"), ("--data", "data"), ("--stack", "stack")):
        sl.add_argument(name, dest=dest, type=_soft_hard, metavar="SOFT[:HARD]", default=False,
                        help=f"set the {name[2:]} limit (sizes or 'unlimited'; needs --yes)")
    sl.add_argument("--yes", action="store_true")
    sv = sub.add_parser("overcommit", help="overcommit policy and commit accounting")
    _common(sv)
    sv.add_argument("--policy", type=int, metavar="0|1|2", help="set vm.overcommit_memory (needs --yes)")
    sv.add_argument("--ratio", type=int, metavar="PERCENT", help="set vm.overcommit_ratio (needs --yes)")
    sv.add_argument("--kbytes", type=int, metavar="KB", help="set vm.overcommit_kbytes (needs --yes)")
    sv.add_argument("--yes", action="store_true")
    sr = sub.add_parser("run", help="run CMD with ASLR off, limits and OOM score set")
    _common(sr)
    sr.add_argument("--no-aslr", "-R", action="store_true", help="personality(ADDR_NO_RANDOMIZE), as setarch -R")
    sr.add_argument("--legacy-layout", "-L", action="store_true",
                    help="personality(ADDR_COMPAT_LAYOUT): bottom-up mmap layout, as setarch -L")
    sr.add_argument("--memlock", type=_size_or_unlimited, default=False, metavar="SIZE", help="RLIMIT_MEMLOCK soft limit")
    sr.add_argument("--as", dest="as_", type=_size_or_unlimited, default=False, metavar="SIZE", help="RLIMIT_AS soft limit")
    sr.add_argument("--data", type=_size_or_unlimited, default=False, metavar="SIZE", help="RLIMIT_DATA soft limit")
    sr.add_argument("--stack", type=_size_or_unlimited, default=False, metavar="SIZE", help="RLIMIT_STACK soft limit")
    sr.add_argument("--oom-score-adj", type=int, metavar="N", help="oom_score_adj (-1000..1000)")
    sr.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")


def run(args) -> int:
    return {"oom": _oom, "limits": _limits, "overcommit": _overcommit, "run": _run}[args.action](args)


def _emit(obj) -> None:
    from ..common import emit_json

    emit_json(obj)


def _oom(args) -> int:
    from ...ctl import oom, set_oom

    before = None
    if args.set is not None:
        from ...kernel.ctl import check_oom_adj
        from ..common import require_yes

        check_oom_adj(args.set)
        require_yes(args, f"setting oom_score_adj of process {args.pid}")
        before, info = set_oom(args.pid, args.set)
    else:
        info = oom(args.pid)
    if args.json:
        _emit({"before": before, "after": info} if before is not None else info)
        return 0
    from ...report.ctl import oom_text

    print("\n".join(oom_text(info, before)))
    return 0


_LIMIT_DESTS = (("memlock", "memlock"), ("as", "as_"), ("data", "data"), ("stack", "stack"))


def _limits(args) -> int:
    from ...ctl import limits, lock_need

    sets = {k: getattr(args, d) for k, d in _LIMIT_DESTS if getattr(args, d) is not False}
    changes = []
    if sets:
        from ..common import require_yes

        require_yes(args, f"setting the limits of process {args.pid}")
        from ...kernel.ctl import set_limits

        want = {k: (soft, None if hard is False else ("unlimited" if hard is None else hard))
                for k, (soft, hard) in sets.items()}
        changes = set_limits(args.pid, want)
    lim = limits(args.pid)
    need = lock_need(lim, args.lock) if args.lock is not None else None
    if args.json:
        _emit({"limits": lim, "lock_need": need, "changes": [{"before": b, "after": a} for b, a in changes]})
        return 0
    from ...report.ctl import limits_table
    from ...report.tables import console

    c = console()
    from ...report.ctl import limit_change

    for b, a in changes:
        c.print(limit_change(b, a))
    for t in limits_table(lim, need):
        c.print(t)
    return 0 if need is None or need.allowed else 1


def _overcommit(args) -> int:
    from ...kernel.ctl import check_overcommit, read_overcommit, set_overcommit_many

    writes = [(n, v) for n, v in (("overcommit_memory", args.policy), ("overcommit_ratio", args.ratio),
                                  ("overcommit_kbytes", args.kbytes)) if v is not None]
    if writes:
        from ..common import require_yes

        for n, v in writes:   # validate all before asking for --yes or writing any
            check_overcommit(n, v)
        require_yes(args, "changing the overcommit policy")
        set_overcommit_many(dict(writes))
    o = read_overcommit()
    if args.json:
        d = {"overcommit": o, "policy_name": o.policy_name}
        _emit(d)
        return 0
    from ...report.ctl import overcommit_table
    from ...report.tables import console

    c = console()
    for t in overcommit_table(o):
        c.print(t)
    return 0


def _run(args) -> int:
    from ...ctl.run import apply_controls, prepare_controls
    from ...numa.run import check_command, exec_argv

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    check_command(cmd)
    c = prepare_controls(no_aslr=args.no_aslr, legacy_layout=args.legacy_layout, oom_score_adj=args.oom_score_adj,
                         limits={k: getattr(args, d) for k, d in _LIMIT_DESTS if getattr(args, d) is not False})
    apply_controls(c)
    exec_argv(cmd)
    return 1   # not reached
