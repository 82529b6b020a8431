"""A process's pages per node per region (numa_maps joined with maps), as numastat -p counts them but
with hugetlb pages at their real size."""

from __future__ import annotations

from collections import Counter

from ..errors import MemdiveError, NoSuchProcess
from ..kernel import numa as knuma
from ..kernel import procfs
from ..kernel.root import KernelRoot, resolve
from ..models.numa import ProcessPlacement


def placement(pid: int, root: KernelRoot | None = None) -> ProcessPlacement:
    r = resolve(root)
    st = procfs.read_stat(pid, r)
    maps = knuma.read_numa_maps_joined(pid, r)
    if not maps:
        from ..process import require_address_space

        require_address_space(pid, False, r, stat=st)
    status = procfs.read_status(pid, r)
    if procfs.read_stat(pid, r).starttime_ticks != st.starttime_ticks:
        raise NoSuchProcess(f"process {pid} exited and its PID was reused", pid=pid)
    node_ids = sorted({n for m in maps for n in m.pages_by_node})
    try:
        node_ids = sorted(set(node_ids) | {n.id for n in knuma.read_nodes(r) if not n.synthetic})
    except MemdiveError:
        node_ids = sorted(node_ids)   # nodes are decoration here; the process's own numbers stand alone
    return ProcessPlacement(
        pid=pid, comm=st.comm, mappings=maps, nodes=tuple(node_ids),
        policies=dict(Counter(m.policy for m in maps)),
        mems_allowed=status.other.get("Mems_allowed_list", ""),
        cpus_allowed=status.other.get("Cpus_allowed_list", ""),
    )
