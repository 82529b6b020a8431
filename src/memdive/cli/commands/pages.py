"""Every page of a process: present, swapped, exclusive, file/shared, soft-dirty, zero page, THP, KSM,
LRU active/inactive, referenced, dirty, and how many processes map each page.

Decodes /proc/PID/pagemap (walked in bulk with the PAGEMAP_SCAN ioctl on Linux 6.7+, else read in
full) and, as root, joins /proc/kpageflags (every documented flag), /proc/kpagecount and
/proc/kpagecgroup for the present pages. Counts per mapping and in total, a page-types-like
histogram of flag combinations, and the pages per memory cgroup. --list prints a small range page
by page. Without CAP_SYS_ADMIN the PFNs and kpage* data are reported unavailable (never as zeros).
Buffers stay under 64 MiB whatever the size of the process.

Examples:
  memdive pages 1234
  memdive pages 1234 --region heap --pages
  memdive pages 1234 --range 7f0000000000-7f0000010000 --list
"""

from __future__ import annotations


def add_arguments(p) -> None:
    from ..common import parse_count, parse_pid, parse_range

    p.add_argument("pid", type=parse_pid, help="process ID")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--range", type=parse_range, metavar="START-END", help="only this address range (hex)")
    g.add_argument("--region", metavar="NAME",
                   help="only mappings of this kind (heap, stack, anon, library...) or name (substring)")
    p.add_argument("--list", action="store_true", help="page by page (a small range: at most 65536 pages)")
    p.add_argument("--method", choices=("auto", "scan", "read"), default="auto",
                   help="scan: PAGEMAP_SCAN ioctl (6.7+); read: read pagemap in full; auto: scan where possible")
    p.add_argument("--fast", action="store_true",
                   help="PAGEMAP_SCAN only: present, swapped, zero-page and PMD-mapped counts (fastest)")
    p.add_argument("--total", action="store_true",
                   help="only whole-process totals (with --fast: one PAGEMAP_SCAN ioctl, no per-mapping walk)")
    p.add_argument("--no-kpage", action="store_true", help="do not join kpageflags/kpagecount/kpagecgroup")
    p.add_argument("--pages", action="store_true", help="show page counts instead of bytes")
    p.add_argument("--top", type=parse_count, default=40, metavar="N", help="mappings shown (by present pages; 0 = all)")


def run(args) -> int:
    from ...pages.walker import entries, walk

    lo, hi = args.range if args.range else (None, None)
    if args.list:
        from ...errors import InvalidInput

        if args.range is None:
            raise InvalidInput("--list needs --range START-END")
        es = entries(args.pid, args.range[0], args.range[1])
        if args.json:
            from ..common import emit_json

            emit_json({"pid": args.pid, "pages": es})
            return 0
        from ...report.pages import entries_table
        from ...report.tables import console

        c = console()
        c.print(entries_table(es))
        if es and any(e.present for e in es) and all(e.pfn is None for e in es if e.present):
            c.print("PFNs, kpageflags: unavailable (hint: PFNs and kpageflags need CAP_SYS_ADMIN: run as root)")
        return 0
    if args.fast and args.total and not (args.range or args.region):
        from ...pages.walker import totals

        t = totals(args.pid)
        if args.json:
            from ..common import emit_json

            emit_json({"pid": args.pid, "method": "PAGEMAP_SCAN", "total": t})
        else:
            print(f"PID {args.pid}: {t.present_pages} of {t.virtual_pages} pages present, {t.swapped_pages} swapped, "
                  f"{t.zero_pages} zero-page, {t.pmd_mapped_pages} PMD-mapped (PAGEMAP_SCAN)")
        return 0
    detail = "scan" if args.fast else ("pagemap" if args.no_kpage else "auto")
    w = walk(args.pid, start=lo, end=hi, region=args.region, method="scan" if args.fast else args.method,
             detail=detail)
    if args.json:
        from ..common import emit_json

        emit_json(w)
        return 0
    from ...report.pages import histogram_table, mapcount_line, memcg_table, walk_header, walk_tables
    from ...report.tables import console

    c = console()
    c.print(walk_header(w), markup=False)
    if args.total:
        import dataclasses

        c.print("  ".join(f"{k.removesuffix('_pages')}={v}" for k, v in dataclasses.asdict(w.total).items()
                          if v is not None), markup=False)
        return 0
    c.print(walk_tables(w, pages=args.pages, top=args.top or None))
    for extra in (mapcount_line(w), histogram_table(w), memcg_table(w)):
        if extra is not None:
            c.print()
            c.print(extra)
    for n in w.notes:
        c.print(f"note: {n}", markup=False)
    return 0
