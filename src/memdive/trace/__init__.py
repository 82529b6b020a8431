"""Allocation tracing: run a program under the LD_PRELOAD shim, read its trace, analyse it.

    memdive.trace.run(["./prog", "arg"], output="prog.trace")  -> RunResult (path(s), exit status)
    memdive.trace.load("prog.trace")                            -> Trace (raw events, stacks, snapshots)
    memdive.trace.analyze(trace)                                -> Analysis (.report: models.trace.TraceReport)
    memdive.trace.report("prog.trace")                          -> load + analyze
    memdive.trace.request_heap_state(pid)                       -> the running program records its heap state

Names are imported on first use: `memdive trace -- CMD` starts CMD without importing numpy first.
"""

from __future__ import annotations

from .. import _lazy_getattr

_LAZY = {
    "Trace": "reader", "load": "reader",
    "RunResult": "runner", "run": "runner", "NotTraceable": "runner", "request_heap_state": "runner",
    "Analysis": "analysis", "analyze": "analysis", "report": "analysis",
}
__all__ = ["Analysis", "NotTraceable", "RunResult", "Trace", "analyze", "load", "report", "request_heap_state", "run"]


__getattr__ = _lazy_getattr(__name__, _LAZY)
