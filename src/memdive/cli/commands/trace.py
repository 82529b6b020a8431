"""Trace every allocation of a program: leaks, peak heap, call sites, and which site owns the RSS.

  memdive trace [-o FILE] [--follow-fork] [--unwind fp|dwarf] -- CMD ARGS...
      Runs CMD with the LD_PRELOAD shim: malloc, calloc, realloc (incl. realloc(p, 0)), reallocarray, free,
      posix_memalign, aligned_alloc, memalign, valloc, pvalloc, mmap, munmap, mremap, each with its call
      stack. The trace survives exit, _exit, abort, fatal signals and SIGKILL. Send SIGUSR2 to the program
      for a glibc heap-state snapshot (mallinfo2, malloc_info) while it runs. Static and setuid programs
      are refused (LD_PRELOAD cannot reach them).

  memdive trace heap PID
      Ask a program running under memdive trace to record glibc's heap state and a pagemap snapshot now
      (it sends the shim's signal, SIGUSR2; the program records it at its next allocation call).

  memdive trace report FILE [--flamegraph OUT.html] [--flame-of peak|leaked|allocated] [--timeline OUT.png|.html]
                            [--top N] [--stacks] [--json]
      Totals, peak heap and when, leaks at exit, top call sites by peak / leaked / count with symbolized
      stacks, glibc heap state at exit, and for the live blocks at peak and at exit how many bytes were
      resident (pagemap at the snapshot) and how much resident heap is free but held.
"""

from __future__ import annotations

import argparse


def add_arguments(p) -> None:
    p.add_argument("-o", "--output", metavar="FILE", help="trace file (default memdive-trace.<cmd>.<pid>.<time>.trace)")
    p.add_argument("--follow-fork", action="store_true",
                   help="trace forked and exec'd children too, each into FILE.<pid>")
    p.add_argument("--unwind", choices=("dwarf", "fp"), default="dwarf",
                   help="stack unwinder: dwarf (any code, default) or fp (frame pointers, faster)")
    p.add_argument("--frames", type=int, default=64, help="deepest stack recorded (1-128, default 64)")
    p.add_argument("--quiet", action="store_true", help="no summary after the run")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ARGS... | report FILE | heap PID",
                   help="the program to trace, 'report FILE', or 'heap PID'")


def _report_parser() -> argparse.ArgumentParser:
    from ..common import parse_count
    from ..parser import _Parser  # the CLI's parser: usage errors exit 2 with one line

    rp = _Parser(prog="memdive trace report", add_help=True)
    rp.add_argument("file")
    rp.add_argument("--flamegraph", metavar="OUT.html", help="write a self-contained interactive flame graph")
    rp.add_argument("--flame-of", choices=("peak", "leaked", "allocated"), default="peak",
                    help="what the flame graph weighs (default: bytes live at peak)")
    rp.add_argument("--timeline", metavar="OUT", help="heap in use over time beside RSS (.png or .html)")
    rp.add_argument("--top", type=parse_count, default=10, help="call sites per table (default 10)")
    rp.add_argument("--stacks", action="store_true", help="print the full stack of each top call site")
    rp.add_argument("--json", action="store_true", help="print JSON")
    return rp


def run(args) -> int:
    from ...errors import InvalidInput

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if len(cmd) == 2 and cmd[0] == "heap" and not args.output and not args.follow_fork:
        from ...trace.runner import request_heap_state
        from ..common import parse_pid

        try:
            pid = parse_pid(cmd[1])
        except argparse.ArgumentTypeError:
            raise InvalidInput(f"not a PID: {cmd[1]!r}") from None
        request_heap_state(pid)
        import sys

        sys.stderr.write(f"memdive trace: asked PID {pid} for its heap state; it is recorded in its trace at its "
                         "next allocation call\n")
        return 0
    if cmd and cmd[0] == "report" and not args.output and not args.follow_fork:
        ra = _report_parser().parse_args(cmd[1:])
        ra.json = ra.json or args.json
        return _report(ra)
    if not cmd:
        raise InvalidInput("no command to trace", hint="memdive trace -- CMD ARGS...  or  memdive trace report FILE")
    if not 1 <= args.frames <= 128:
        raise InvalidInput("--frames must be 1..128")
    from ...report.text import describe_exit
    from ...trace import run as trace_run

    res = trace_run(cmd, output=args.output, follow_fork=args.follow_fork, unwind=args.unwind, frames=args.frames)
    # memdive exits with the program's own status (128 + N for a signal), as time(1) and heaptrack do
    code = res.returncode if res.returncode >= 0 else 128 - res.returncode
    if args.json:
        from ..common import emit_json

        emit_json({"path": res.path, "children": res.children, "pid": res.pid, "returncode": res.returncode,
                   "wall_seconds": res.wall_seconds})
        return code
    import sys

    err = sys.stderr
    err.write(f"memdive trace: {cmd[0]} (pid {res.pid}) {describe_exit(res.returncode)} after {res.wall_seconds:.2f} s\n")
    err.write(f"memdive trace: wrote {res.path}" + (f" and {len(res.children)} child trace(s)" if res.children else "")
              + "\n")
    if not args.quiet:
        from ...report.trace import summary_lines
        from ...trace import report

        a = report(res.path, top=3)
        for line in summary_lines(a.report):
            err.write(line + "\n")
        err.write(f"memdive trace: details: memdive trace report {res.path}\n")
    return code


def _report(ra) -> int:
    from ...trace import report

    a = report(ra.file, top=max(1, ra.top))
    if ra.flamegraph:
        from ...report.trace import write_flamegraph

        write_flamegraph(a, ra.flamegraph, weight=ra.flame_of)
    if ra.timeline:
        from ...report.trace import write_timeline

        write_timeline(a, ra.timeline)
    r = a.report
    if ra.json:
        from ...report.trace import report_json
        from ..common import emit_json

        emit_json(report_json(r))
        return 0
    from ...report.tables import console
    from ...report.trace import heap_table, resident_table, sites_table, stack_lines, summary_lines

    c = console()
    for line in summary_lines(r):
        c.print(line, markup=False)
    for title, sites, key in (("top call sites by bytes live at peak", r.sites_by_peak, "peak"),
                              ("top call sites by leaked bytes", r.sites_by_leaked, "leaked"),
                              ("top call sites by allocation count", r.sites_by_count, "count")):
        c.print()
        if not sites:
            c.print(f"{title}: none", markup=False)
            continue
        c.print(sites_table(title, sites, key))
        if ra.stacks:
            for i, s in enumerate(sites, 1):
                c.print(f"  #{i} stack {s.stack_id}:", markup=False)
                for ln in stack_lines(s):
                    c.print(ln, markup=False)
    if r.heap:
        c.print()
        c.print(heap_table(r))
    if r.resident:
        c.print()
        c.print(resident_table(r))
    if ra.flamegraph:
        c.print(f"\nflame graph: {ra.flamegraph}", markup=False)
    if ra.timeline:
        c.print(f"timeline: {ra.timeline}", markup=False)
    return 0
