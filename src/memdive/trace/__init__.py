"""Allocation tracing: run a program under the LD_PRELOAD shim, read its trace, analyse it.

    memdive.trace.run(["./prog", "arg"], output="prog.trace")  -> RunResult (path(s), exit status)
    memdive.trace.load("prog.trace")                            -> Trace (raw events, stacks, snapshots)
    memdive.trace.analyze(trace)                                -> Analysis (.report: models.trace.TraceReport)
    memdive.trace.report("prog.trace")                          -> load + analyze
    memdive.trace.request_heap_state(pid)                       -> the running program records its heap state

Names are imported on first use: `memdive trace -- CMD` starts CMD without importing numpy first.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Trace": "reader", "load": "reader",
    "RunResult": "runner", "run": "runner", "NotTraceable": "runner", "request_heap_state": "runner",
    "Analysis": "analysis", "analyze": "analysis", "report": "analysis",
}
__all__ = ["Analysis", "NotTraceable", "RunResult", "Trace", "analyze", "load", "report", "request_heap_state", "run"]


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'memdive.trace' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"memdive.trace.{mod}"), name)
    globals()[name] = value
    return value
