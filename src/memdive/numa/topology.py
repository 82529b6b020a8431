"""Nodes, the distance matrix and numastat rates."""

from __future__ import annotations

from ..errors import InvalidInput
from ..kernel import numa as knuma
from ..kernel.root import KernelRoot
from ..models.numa import Node, format_nodelist

COUNTERS = ("numa_hit", "numa_miss", "numa_foreign", "interleave_hit", "local_node", "other_node")


def nodes(root: KernelRoot | None = None) -> list[Node]:
    return knuma.read_nodes(root)


def distance_matrix(ns: list[Node]) -> list[list[int | None]]:
    """Row i, column j: the distance from node ns[i] to node ns[j] (None when the kernel does not say)."""
    return [[a.distances.get(b.id) for b in ns] for a in ns]


def node_rates(before: list[Node], after: list[Node], seconds: float) -> dict[int, dict[str, float]]:
    """numastat counters per second between two samples (pages/s)."""
    prev = {n.id: n.numastat for n in before}
    out: dict[int, dict[str, float]] = {}
    for n in after:
        p = prev.get(n.id, {})
        out[n.id] = {k: (v - p.get(k, v)) / seconds if seconds > 0 else 0.0 for k, v in n.numastat.items()}
    return out


def parse_nodes_arg(text: str, ns: list[Node] | None = None, *, need_memory: bool = False,
                    what: str = "nodes") -> tuple[int, ...]:
    """'0-1,3' or 'all' -> node ids, checked against the machine's nodes (one-line error otherwise)."""
    ns = ns if ns is not None else nodes()
    ids = {n.id for n in ns}
    if text.strip() == "all":
        sel = tuple(sorted(n.id for n in ns if n.has_memory or not need_memory))
    else:
        try:
            sel = knuma.parse_list(text, what)
        except InvalidInput:
            raise InvalidInput(f"not a node list: {text!r} (use e.g. 0, 0-1, 0,2)") from None
    if not sel:
        raise InvalidInput(f"empty node list for {what}")
    bad = [i for i in sel if i not in ids]
    if bad:
        raise InvalidInput(f"NUMA node {format_nodelist(bad)} does not exist (nodes here: {format_nodelist(ids)})")
    if need_memory:
        nomem = [n.id for n in ns if n.id in sel and not n.has_memory]
        if nomem:
            raise InvalidInput(f"NUMA node {format_nodelist(nomem)} has no memory: it cannot hold pages")
    return sel
