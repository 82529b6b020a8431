"""Working-set size of a process over time, per interval and per mapping (Brendan Gregg's wss, better).

Accessed set, --method referenced: each interval memdive writes 1 to /proc/PID/clear_refs, which
clears the accessed (young) bits of all the process's pages, then sums smaps `Referenced` at the end
of the interval. --method idle (root, kernels with CONFIG_IDLE_PAGE_TRACKING): marks the PFNs of the
present pages idle in /sys/kernel/mm/page_idle/bitmap and counts those whose idle bit the kernel
cleared by the end of the interval. --method auto (default): idle where available, else referenced.
Written set: soft-dirty (clear_refs 4 + pagemap bit 55) where the kernel has CONFIG_MEM_SOFT_DIRTY;
otherwise memdive says it is not measured. The method and its known error are printed with the
figures.

Why --yes: resetting referenced bits changes what the kernel's reclaim believes is hot in the
target. Its pages look idle until touched again and may be reclaimed or swapped sooner. (The
kernel clears the bits without flushing the TLB, so the target takes no extra TLB misses, and an
access that hits a TLB entry cached before the reset is not seen: see the printed error.) Setting
idle bits clears the accessed bits in the target's page tables too. Nothing is written without --yes.

Example: memdive wss 1234 --interval 1 --duration 10 --yes
"""

from __future__ import annotations


def add_arguments(p) -> None:
    from ..common import parse_count, parse_pid, parse_positive, parse_seconds

    p.add_argument("pid", type=parse_pid, help="process ID")
    p.add_argument("--interval", type=parse_seconds, default=1.0, metavar="S", help="seconds per sample (default 1)")
    p.add_argument("--duration", type=parse_seconds, default=None, metavar="S", help="stop after S seconds (default: 5 samples)")
    p.add_argument("--count", type=parse_positive, default=None, metavar="N", help="stop after N samples")
    p.add_argument("--regions", type=parse_count, default=5, metavar="N", help="top N mappings per sample (0: none)")
    p.add_argument("--method", choices=("auto", "referenced", "idle"), default="auto",
                   help="accessed set by clear_refs + Referenced, or the idle page bitmap (default: auto)")
    p.add_argument("--yes", action="store_true", help="allow resetting the target's referenced bits (see above)")


def run(args) -> int:
    import sys

    from ...errors import InvalidInput
    from ...pages import wss
    from ..common import require_yes

    if args.interval <= 0:
        raise InvalidInput("--interval must be > 0")
    from ...kernel.procfs import read_stat

    read_stat(args.pid)     # an unknown PID is said as such, before asking for --yes
    method = wss.choose_method(args.method)
    why = wss.IDLE_WHY if method == "idle" else wss.RESET_WHY
    require_yes(args, f"wss resets the referenced bits of process {args.pid} ({why})")
    count = args.count if args.count is not None else (None if args.duration is not None else 5)
    notes = wss.notes()
    text, error = wss.method_text(method)
    samples = []
    if not args.json:
        from ...report.text import escape, human_bytes

        print(f"method: {text}")
        print(error)
        for n in notes:
            print(f"note: {n}")
        print(f"{'time s':>8} {'RSS':>10} {'accessed':>10} {'acc/RSS':>8} {'written':>10}")
    for s in wss.sample(args.pid, interval=args.interval, duration=args.duration, count=count, method=method):
        samples.append(s)
        if args.json:
            continue
        pct = f"{100 * s.accessed_bytes / s.rss_bytes:.1f}%" if s.rss_bytes else "-"
        print(f"{s.time_seconds:8.2f} {human_bytes(s.rss_bytes):>10} {human_bytes(s.accessed_bytes):>10} {pct:>8} "
              f"{human_bytes(s.written_bytes) if s.written_bytes is not None else 'n/a':>10}")
        if s.untracked_bytes:
            print(f"{'':8}   untracked by the idle bitmap (not on an LRU list): {human_bytes(s.untracked_bytes)}")
        if args.regions:
            for r in sorted(s.regions, key=lambda r: -r.accessed_bytes)[:args.regions]:
                if r.accessed_bytes:
                    print(f"{'':8}   {human_bytes(r.accessed_bytes):>10} of {human_bytes(r.rss_bytes):>8} "
                          f"{r.start:012x} {r.kind:<10} {escape(r.name, 60)}")
        sys.stdout.flush()
    if args.json:
        from ..common import emit_json

        emit_json({"pid": args.pid, "method": text, "method_name": method, "error": error, "notes": notes,
                   "soft_dirty_supported": not any("SOFT_DIRTY" in n for n in notes), "samples": samples})
    return 0
