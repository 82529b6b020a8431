"""Allocation tracing: run a program under the LD_PRELOAD shim, read its trace, analyse it.

    memdive.trace.run(["./prog", "arg"], output="prog.trace")  -> RunResult (path(s), exit status)
    memdive.trace.load("prog.trace")                            -> Trace (raw events, stacks, snapshots)
    memdive.trace.analyze(trace)                                -> models.trace.TraceReport
    memdive.trace.report("prog.trace")                          -> load + analyze
"""

from __future__ import annotations

from .reader import Trace, load
from .run import RunResult, run
from .analysis import Analysis, analyze, report

__all__ = ["Trace", "load", "RunResult", "run", "Analysis", "analyze", "report"]
