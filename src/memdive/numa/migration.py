"""Move a process's pages to a node: move_pages (per-page status: failures by reason) or migrate_pages."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

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
    from ..kernel import procfs
    from ..process import require_address_space

    require_address_space(pid, bool(procfs.read_maps(pid, r)), r, ": no pages to move")
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
        import numpy as np  # here, not at import: the migrate_pages path and the CLI start without it

        flags = knuma.MPOL_MF_MOVE_ALL if move_all else knuma.MPOL_MF_MOVE
        acc = Tally()
        src_arr = np.array(src, dtype=np.int32)
        for start, end, psize in _targets(pid, r):
            for lo in range(start, end, _BATCH * psize):
                chunk = np.arange(lo, min(end, lo + _BATCH * psize), psize, dtype=np.uint64)
                p.check()
                st = np.frombuffer(knuma.move_pages(pid, chunk, None), dtype=np.int32)
                sel_mask = acc.query(st, to, src_arr, psize)
                if not sel_mask.any():
                    continue
                p.check()
                res = np.frombuffer(knuma.move_pages(pid, np.ascontiguousarray(chunk[sel_mask]), to, flags),
                                    dtype=np.int32)
                acc.moved_batch(st[sel_mask], res, to, psize)
        p.check()
    return MigrationResult(pid=pid, method=method, to_node=to, from_nodes=src, pages_examined=acc.examined,
                           pages_already=acc.already, pages_moved=acc.moved, pages_not_present=acc.not_present,
                           failures=acc.failures, bytes_moved=acc.moved_bytes, seconds=time.perf_counter() - t0,
                           before=acc.before, after=acc.after)


@dataclass
class Tally:
    """Per-page move_pages statuses summed: where pages were, where they are, what failed and why."""

    examined: int = 0
    already: int = 0
    not_present: int = 0
    moved: int = 0
    moved_bytes: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    before: dict[int, int] = field(default_factory=dict)   # node -> bytes
    after: dict[int, int] = field(default_factory=dict)

    @staticmethod
    def _add(d: dict[int, int], nodes, psize: int) -> None:
        import numpy as np

        for n, cnt in zip(*np.unique(nodes, return_counts=True)):
            d[int(n)] = d.get(int(n), 0) + int(cnt) * psize

    def query(self, st, to: int, src_arr, psize: int):
        """Statuses of a query (node or -errno per page) -> the mask of pages to move."""
        import numpy as np

        present = st >= 0
        self.not_present += int(len(st) - present.sum())
        self.examined += int(present.sum())
        self._add(self.before, st[present], psize)
        sel = present & np.isin(st, src_arr) & (st != to)
        self.already += int((st == to).sum())
        self._add(self.after, st[present & ~sel], psize)
        return sel

    def moved_batch(self, was, res, to: int, psize: int) -> None:
        """`was`: the nodes the selected pages were on; `res`: move_pages' status for each."""
        import numpy as np

        ok = int((res == to).sum())
        self.moved += ok
        self.moved_bytes += ok * psize
        if ok:
            self.after[to] = self.after.get(to, 0) + ok * psize
        bad = res != to
        for s_, cnt in zip(*np.unique(res[bad], return_counts=True)):
            name = knuma.errno_name(int(s_)) if s_ < 0 else f"ended on node {int(s_)}"
            self.failures[name] = self.failures.get(name, 0) + int(cnt)
        # a page that did not move stays where it was (or is where the kernel says it ended)
        self._add(self.after, np.where(res[bad] >= 0, res[bad], was[bad]), psize)


def knuma_page() -> int:
    from ..kernel.libc import PAGE_SIZE

    return PAGE_SIZE


def _per_node(pid: int, r: KernelRoot) -> dict[int, int]:
    acc: dict[int, int] = {}
    for m in knuma.read_numa_maps(pid, r):
        for n, b in m.bytes_by_node.items():
            acc[n] = acc.get(n, 0) + b
    return acc
