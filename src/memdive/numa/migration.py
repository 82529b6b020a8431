"""Move a process's pages to a node: move_pages (per-page status: failures by reason) or migrate_pages."""

from __future__ import annotations

import time

from ..errors import InvalidInput
from ..kernel import numa as knuma
from ..kernel.ctl import Pinned
from ..kernel.root import KernelRoot, resolve
from ..models.numa import MigrationResult
from .topology import nodes as read_nodes

_BATCH = 1 << 16
_SKIP = ("[vsyscall]", "[vvar]", "[vvar_vclock]", "[vdso]")


def _targets(pid: int, r: KernelRoot):
    """(start, end, page size) of every region with resident pages (numa_maps joined with maps)."""
    return [(m.start, m.end, m.page_size_bytes) for m in knuma.read_numa_maps_joined(pid, r)
            if m.end is not None and m.pages_by_node and m.name not in _SKIP]


def migrate(pid: int, to: int, from_nodes=None, *, method: str = "move_pages", move_all: bool = False,
            root: KernelRoot | None = None, expect_start: int | None = None) -> MigrationResult:
    """Move PID's pages (those on `from_nodes`, default: every other node) to node `to`.

    move_pages: every resident page is queried, the ones elsewhere moved, and each page's status tallied
    (failures by errno name: EACCES shared with another process, EBUSY, ENOMEM, EFAULT...).
    migrate_pages: one call; the kernel only says how many pages it could not move.
    `move_all` moves pages shared with other processes too (MPOL_MF_MOVE_ALL, needs CAP_SYS_NICE).
    """
    r = resolve(root)
    ns = read_nodes(r)
    ids = {n.id: n for n in ns}
    if to not in ids:
        raise InvalidInput(f"NUMA node {to} does not exist (nodes here: {', '.join(map(str, sorted(ids)))})")
    if not ids[to].has_memory:
        raise InvalidInput(f"NUMA node {to} has no memory: pages cannot move there")
    src = tuple(from_nodes) if from_nodes is not None else tuple(i for i in sorted(ids) if i != to)
    for f in src:
        if f not in ids:
            raise InvalidInput(f"NUMA node {f} does not exist")
    if method not in ("move_pages", "migrate_pages"):
        raise InvalidInput(f"unknown migration method {method!r} (move_pages or migrate_pages)")
    t0 = time.perf_counter()
    before: dict[int, int] = {}
    after: dict[int, int] = {}
    with Pinned(pid, r, expect_start) as p:
        if method == "migrate_pages":
            before = _per_node(pid, r)
            p.check()
            not_moved = knuma.migrate_pages(pid, src, [to]) if src else 0
            after = _per_node(pid, r)
            moved_bytes = max(0, sum(after.get(n, 0) for n in [to]) - before.get(to, 0))
            return MigrationResult(pid=pid, method=method, to_node=to, from_nodes=src,
                                   pages_moved=moved_bytes // knuma_page(), bytes_moved=moved_bytes,
                                   failures={"not moved": not_moved} if not_moved else {},
                                   seconds=time.perf_counter() - t0, before=before, after=after)
        flags = knuma.MPOL_MF_MOVE_ALL if move_all else knuma.MPOL_MF_MOVE
        examined = already = not_present = moved = moved_bytes = 0
        failures: dict[str, int] = {}
        import numpy as np

        src_arr = np.array(src, dtype=np.int32)
        for start, end, psize in _targets(pid, r):
            for lo in range(start, end, _BATCH * psize):
                chunk = np.arange(lo, min(end, lo + _BATCH * psize), psize, dtype=np.uint64)
                p.check()
                st = np.frombuffer(knuma.move_pages(pid, chunk, None), dtype=np.int32)
                present = st >= 0
                not_present += int(len(st) - present.sum())
                examined += int(present.sum())
                for n, cnt in zip(*np.unique(st[present], return_counts=True)):
                    before[int(n)] = before.get(int(n), 0) + int(cnt) * psize
                sel_mask = present & np.isin(st, src_arr) & (st != to)
                already += int((st == to).sum())
                stay = present & ~sel_mask
                for n, cnt in zip(*np.unique(st[stay], return_counts=True)):
                    after[int(n)] = after.get(int(n), 0) + int(cnt) * psize
                if not sel_mask.any():
                    continue
                sel = np.ascontiguousarray(chunk[sel_mask])
                p.check()
                res = np.frombuffer(knuma.move_pages(pid, sel, to, flags), dtype=np.int32)
                ok = int((res == to).sum())
                moved += ok
                moved_bytes += ok * psize
                if ok:
                    after[to] = after.get(to, 0) + ok * psize
                bad = res != to
                for s_, cnt in zip(*np.unique(res[bad], return_counts=True)):
                    name = knuma.errno_name(int(s_)) if s_ < 0 else f"ended on node {int(s_)}"
                    failures[name] = failures.get(name, 0) + int(cnt)
                # a page that did not move stays where it was (or where the kernel says it ended)
                where = np.where(res[bad] >= 0, res[bad], st[sel_mask][bad])
                for n, cnt in zip(*np.unique(where, return_counts=True)):
                    after[int(n)] = after.get(int(n), 0) + int(cnt) * psize
        p.check()
    return MigrationResult(pid=pid, method=method, to_node=to, from_nodes=src, pages_examined=examined,
                           pages_already=already, pages_moved=moved, pages_not_present=not_present,
                           failures=failures, bytes_moved=moved_bytes, seconds=time.perf_counter() - t0,
                           before=before, after=after)


def knuma_page() -> int:
    from ..kernel.libc import PAGE_SIZE

    return PAGE_SIZE


def _per_node(pid: int, r: KernelRoot) -> dict[int, int]:
    acc: dict[int, int] = {}
    for m in knuma.read_numa_maps(pid, r):
        for n, b in m.bytes_by_node.items():
            acc[n] = acc.get(n, 0) + b
    return acc
