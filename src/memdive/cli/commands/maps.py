"""A process's address space, every mapping (pmap -X, better).

For each mapping: range, size, permissions, kind (program, library, file, deleted, heap, stack,
anon, named-anon, shmem, memfd, vdso), RSS/PSS/USS, dirty, swap, THP, locked and its name; with
--wide also offset, device, inode and VmFlags. Then summaries by kind, by file, and by permission
(the seed's analyze_memory_regions). --layout draws text, data, bss, heap, mmap area, stack, argv
and environment (the seed's print_memory_layout) for any process. --json has every smaps counter.
"""

from __future__ import annotations


def add_arguments(p) -> None:
    from ...maps import KINDS
    from ..common import parse_pid, parse_size

    p.add_argument("pid", type=parse_pid, help="process ID")
    p.add_argument("--sort", choices=("rss", "pss", "uss", "swap", "size"), help="sort mappings (default: address)")
    p.add_argument("--kind", action="append", choices=KINDS, help="only mappings of this kind (repeatable)")
    p.add_argument("--min", type=parse_size, default=0, metavar="SIZE", help="only mappings at least SIZE large")
    p.add_argument("--layout", action="store_true", help="draw the address space layout")
    p.add_argument("--summary", action="store_true", help="only the summaries, not every mapping (with --layout: only the layout)")
    p.add_argument("--wide", action="store_true", help="also offset, device, inode and VmFlags")


def run(args) -> int:
    from ...maps import layout, select, summarize
    from ...process import Process, require_address_space

    proc = Process(args.pid)
    snap = proc.snapshot()
    require_address_space(args.pid, bool(snap.mappings), what=": no mappings to show", stat=snap.stat)
    maps = select(snap.mappings, kinds=set(args.kind) if args.kind else None, min_bytes=args.min,
                  sort=args.sort, exe=snap.exe)
    summary = summarize(snap.mappings, exe=snap.exe)
    lay = layout(snap.mappings, snap.stat) if args.layout else None
    if args.json:
        from ...report.maps import maps_json
        from ..common import emit_json

        emit_json(maps_json(args.pid, maps, summary, snap.exe, lay))
        return 0
    from ...report.maps import layout_text, maps_table, summary_tables
    from ...report.tables import PlainText, console
    from ...report.text import escape, human_bytes

    c = console()     # plain text only, unless --layout draws its picture (rich)
    c.print(PlainText(f"PID {args.pid}  {escape(' '.join(snap.cmdline) or snap.stat.comm, 200)}", bold=(0,)))
    if lay is not None:
        c.print(layout_text(lay))
        if args.summary:
            return 0
    if not args.summary:
        c.print(maps_table(maps, snap.exe, wide=args.wide))
        c.print()
    for t in summary_tables(summary):
        c.print(t)
        c.print()
    t = summary.totals
    c.print(PlainText(f"RSS {human_bytes(t.rss_bytes)}  PSS {human_bytes(t.pss_bytes)}  USS {human_bytes(t.uss_bytes)}  "
                      f"Swap {human_bytes(t.swap_bytes)}  SwapPss {human_bytes(t.swap_pss_bytes)}"))
    return 0
