"""Virtual to physical addresses of any process (the seed's virt_to_phys), with each page's state:
present or swapped (swap type and offset), exclusive, file/shared, soft-dirty, PFN, the physical
address, kpageflags by name, how many processes map it (kpagecount) and its memory cgroup inode.
PFNs need CAP_SYS_ADMIN: without it they are reported unavailable.

Example: memdive phys 1234 7ffd12345678 0x55d0c0a01000
"""

from __future__ import annotations


def add_arguments(p) -> None:
    from ..common import parse_addr, parse_pid

    p.add_argument("pid", type=parse_pid, help="process ID")
    p.add_argument("addrs", nargs="+", type=parse_addr, metavar="ADDR", help="virtual address (hex)")


def run(args) -> int:
    from ...pages.translate import phys

    es = phys(args.pid, args.addrs)
    if args.json:
        from ..common import emit_json

        emit_json({"pid": args.pid, "addresses": es})
        return 0
    from ...report.tables import console, table
    from ...report.text import escape

    rows = []
    for e in es:
        if e.present:
            state = "present"
            where = f"{e.phys_addr:#x}" if e.phys_addr is not None else "unavailable (PFNs need CAP_SYS_ADMIN: run as root)"
            pfn = f"{e.pfn:#x}" if e.pfn is not None else "hidden"
        elif e.swapped:
            state, where, pfn = "swapped", f"swap type {e.swap_type} offset {e.swap_offset:#x}", ""
        else:
            state, where, pfn = "not present", "", ""
        rows.append((f"{e.address:#x}", state, pfn, where,
                     ",".join(e.flag_names) if e.flag_names is not None else ("n/a" if e.present else ""),
                     "" if e.mapcount is None else e.mapcount, "x" if e.exclusive else "",
                     escape(e.region, 50)))
    console().print(table(f"PID {args.pid}: virtual to physical", ["Virtual", "State", "PFN", "Physical",
                                                                    "kpageflags", "Map#", "Excl", "Region"],
                          rows, right=(5,)))
    return 0
