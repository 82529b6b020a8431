"""Benchmark the memory hierarchy: latency, bandwidth, TLB, access patterns, false sharing, prefetch.

  memdive bench                 everything in one summary table (a few minutes; --quick: < 1 minute)
  memdive bench latency         ns per dependent load, 4 KiB .. 4x LLC; plateaus vs sysfs cache sizes
  memdive bench bandwidth       STREAM read/write/copy/scale/add/triad on 1..N pinned threads
  memdive bench tlb             map+touch cost by page kind; TLB-miss cost, 4 KiB vs 2 MiB pages
  memdive bench patterns        row vs column major, stride sweep 8 B..4 KiB, sequential vs random
  memdive bench false-sharing   per-thread counters packed in one line vs padded
  memdive bench prefetch        software prefetch distances, sequential and gather
  memdive bench transpose       naive vs blocked vs cache-oblivious

The kernels are C (built at install time with -march=native) on pinned threads; each figure is
min/median/max over repeats after a warm-up; the page backing obtained is read back from smaps.
--pages hugetlb needs a reserved pool (root: /proc/sys/vm/nr_hugepages); nothing here needs root.
"""

from __future__ import annotations

NAMES = ("summary", "latency", "bandwidth", "tlb", "patterns", "false-sharing", "prefetch", "transpose")


def add_arguments(p) -> None:
    from ..common import parse_positive, parse_size

    p.add_argument("name", nargs="?", default="summary", choices=NAMES, metavar="NAME",
                   help="one benchmark: " + ", ".join(NAMES[1:]) + " (default: the summary of all)")
    p.add_argument("--quick", action="store_true", help="fewer sizes and repeats (the summary: under a minute)")
    p.add_argument("--size", type=parse_size, metavar="BYTES",
                   help="bandwidth: bytes per array (default 4x LLC); latency/summary: the largest working set; "
                        "tlb: the largest region")
    p.add_argument("--threads", type=int, metavar="N",
                   help="bandwidth/false-sharing: this many pinned threads (default: 1, 2, 4.. all CPUs)")
    p.add_argument("--pages", choices=("4k", "thp", "hugetlb"), default="4k",
                   help="page backing of the buffers (checked after the run and reported)")
    p.add_argument("--repeats", type=parse_positive, metavar="N", help="timed repeats per figure (after warm-up)")
    p.add_argument("--nt", action="store_true", help="bandwidth: non-temporal (streaming) stores")
    p.add_argument("--cpu", type=int, metavar="CPU", help="single-thread benchmarks: pin to this CPU")
    p.add_argument("--plot", metavar="FILE", help="write the latency curve and bandwidth by threads (.png, .svg or .pdf)")


def _run(args):
    from ... import bench
    from ...errors import InvalidInput

    q = args.quick
    r = args.repeats
    if args.plot and not args.plot.lower().endswith((".png", ".svg", ".pdf")):
        raise InvalidInput(f"--plot {args.plot!r}: the file name must end in .png, .svg or .pdf")
    if args.plot:    # checked before the benchmark runs, not after minutes of it
        import os

        d = os.path.dirname(os.path.abspath(args.plot))
        if not os.path.isdir(d):
            raise InvalidInput(f"--plot {args.plot!r}: directory {d} does not exist")
        if not os.access(d, os.W_OK):
            from ...errors import AccessDenied

            raise AccessDenied(f"--plot {args.plot!r}: permission denied writing in {d}", path=d)
    name = args.name
    if name == "summary":
        return bench.summary(quick=q, pages=args.pages, size=args.size, threads=args.threads)
    if name == "latency":
        from ...bench.latency import default_sizes

        sizes = default_sizes(args.size, per_octave=1 if q else 2)
        return bench.latency(sizes, pages=args.pages, repeats=r or (3 if q else 5),
                             min_loads=1 << (20 if q else 22), cpu=args.cpu)
    if name == "bandwidth":
        return bench.bandwidth(size=args.size, threads=args.threads, repeats=r or (5 if q else 10), pages=args.pages,
                               nontemporal=args.nt)
    if name == "tlb":
        pages = None
        if args.size:
            n = max(16, args.size // 4096)
            pages = [p for p in (16, 64, 256, 1024, 4096, 16384, 65536, 262144) if p < n] + [n]
        elif q:
            pages = [16, 256, 4096, 65536]
        return bench.tlb(pages, repeats=r or (3 if q else 5), min_loads=1 << (20 if q else 21), cpu=args.cpu,
                         huge="hugetlb" if args.pages == "hugetlb" else "thp")
    if name == "patterns":
        return bench.patterns(2048 if q else 4096, 32 << 20 if q else 64 << 20, elements=(4 if q else 8) << 20,
                              repeats=r or (2 if q else 3), pages=args.pages, cpu=args.cpu)
    if name == "false-sharing":
        return bench.false_sharing(args.threads, 2_000_000 if q else 10_000_000, r or (3 if q else 5))
    if name == "prefetch":
        return bench.prefetch((4 if q else 16) << 20, r or (3 if q else 5), pages=args.pages, cpu=args.cpu)
    return bench.transpose((512, 2048) if q else (256, 1024, 2048, 4096), repeats=r or (2 if q else 3),
                           pages=args.pages, cpu=args.cpu)


def run(args) -> int:
    result = _run(args)
    if args.plot:
        from ...report.bench import plot

        plot(result, args.plot)
    if args.json:
        from ..common import emit_json

        emit_json(result)
        return 0
    from ...report.bench import renderables
    from ...report.tables import console

    c = console()
    for x in renderables(result):
        c.print(x)
    if args.plot:
        c.print(f"plot written to {args.plot}")
    return 0
