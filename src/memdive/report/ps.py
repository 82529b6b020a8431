"""Renderers for `memdive ps`."""

from __future__ import annotations

from ..ps import GroupMemory, ProcessMemory, PsResult


def ps_json(res: PsResult, procs: list[ProcessMemory], groups: list[GroupMemory] | None,
            tot: GroupMemory) -> dict:
    fields = GroupMemory._fields      # all-scalar records: a dict each, no generic conversion
    out = {
        "processes": [dict(zip(ProcessMemory._fields, p)) for p in procs],
        "totals": dict(zip(fields, tot)),
        "denied": res.denied,
        "vanished": res.vanished,
        "hint": res.hint,
        "errors": res.errors,
    }
    if groups is not None:
        out["groups"] = [dict(zip(fields, g)) for g in groups]
    return out


def ps_table(procs: list[ProcessMemory], groups: list[GroupMemory] | None, by: str | None, tot: GroupMemory):
    from .tables import table
    from .text import escape, human_bytes  # here: `ps --json` does not need them

    rows: list[tuple[object, ...]]      # group rows or process rows (an annotation only: costs nothing)
    if groups is not None:
        rows = [(escape(g.key, 120), g.count, human_bytes(g.rss_bytes), human_bytes(g.pss_bytes),
                 human_bytes(g.uss_bytes), human_bytes(g.swap_bytes), human_bytes(g.swap_pss_bytes)) for g in groups]
        return table(None, [by or "group", "procs", "RSS", "PSS", "USS", "Swap", "SwapPss"], rows,
                     right=range(1, 7), footer=["total", tot.count, human_bytes(tot.rss_bytes),
                                                 human_bytes(tot.pss_bytes), human_bytes(tot.uss_bytes),
                                                 human_bytes(tot.swap_bytes), human_bytes(tot.swap_pss_bytes)])
    rows = [(p.pid, escape(p.user, 16), human_bytes(p.rss_bytes), human_bytes(p.pss_bytes), human_bytes(p.uss_bytes),
             human_bytes(p.swap_bytes), human_bytes(p.swap_pss_bytes), escape(p.command, 100)) for p in procs]
    return table(None, ["PID", "User", "RSS", "PSS", "USS", "Swap", "SwapPss", "Command"], rows,
                 right=(0, 2, 3, 4, 5, 6),
                 footer=["", f"{tot.count} procs", human_bytes(tot.rss_bytes), human_bytes(tot.pss_bytes),
                         human_bytes(tot.uss_bytes), human_bytes(tot.swap_bytes), human_bytes(tot.swap_pss_bytes),
                         "total"])
