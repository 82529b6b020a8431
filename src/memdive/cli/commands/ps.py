"""Every process's memory: RSS, PSS, USS, swap and SwapPss (smem, faster).

Reads /proc/PID/smaps_rollup once per process (smaps where the kernel lacks it). PSS divides each
shared page among the processes mapping it; USS counts only pages no other process maps.
Processes that exit mid-scan are skipped; those that cannot be read are counted, with the hint.
"""

from __future__ import annotations

import re


def add_arguments(p) -> None:
    from ...ps import SORT_KEYS

    p.add_argument("pattern", nargs="?", help="regular expression matched against the command line")
    p.add_argument("--by", choices=("user", "command", "cgroup"), help="aggregate by user, command name or cgroup")
    p.add_argument("--sort", choices=SORT_KEYS, default="pss", help="sort key (default pss)")
    p.add_argument("--top", type=int, metavar="N", help="only the N largest")
    p.add_argument("--user", help="only this user's processes (name or uid)")


def run(args) -> int:
    import sys

    from ...errors import InvalidInput
    from ...ps import aggregate, scan, sort_processes, totals

    if args.top is not None and args.top < 0:      # procs[:-1] would silently drop the smallest
        raise InvalidInput(f"--top must be 0 or more, not {args.top}")
    uid = None
    if args.user is not None:
        if args.user.isdigit():
            uid = int(args.user)
        else:
            import pwd

            try:
                uid = pwd.getpwnam(args.user).pw_uid
            except KeyError:
                raise InvalidInput(f"no such user: {args.user!r}") from None
    # The renderer is imported before the scan, while the C core's threads still read /proc.
    if args.json:
        import json  # noqa: F401  (emit_json's)

        from ...report.ps import ps_json
        from ..common import emit_json
    else:
        from ...report.ps import ps_table
        from ...report.tables import console

        c = console()
    res = scan(uid=uid, with_cgroup=args.by == "cgroup")
    procs = res.processes
    if args.pattern:
        try:
            rx = re.compile(args.pattern)
        except re.error as e:
            raise InvalidInput(f"bad pattern {args.pattern!r}: {e}") from None
        procs = [p for p in procs if rx.search(p.command)]
    procs = sort_processes(procs, args.sort)
    groups = aggregate(procs, args.by) if args.by else None
    tot = totals(procs)
    if args.top:
        procs = procs[: args.top]
        if groups is not None:
            groups = groups[: args.top]
    if args.json:
        emit_json(ps_json(res, procs, groups, tot), plain=True)
    else:
        c.print(ps_table(procs, groups, args.by, tot))
        if res.hint:
            sys.stdout.flush()    # the table first, then the note, also when both go to one file
            sys.stderr.write(f"memdive: note: {res.hint}\n")
    return 0
