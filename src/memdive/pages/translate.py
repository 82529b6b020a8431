"""Virtual -> physical addresses of any process (the seed's virt_to_phys), with the page's flags."""

from __future__ import annotations

from ..errors import InvalidInput
from ..kernel.root import KernelRoot
from ..models.pages import PageEntry
from .walker import entries


def phys(pid: int, addrs: list[int], root: KernelRoot | None = None) -> list[PageEntry]:
    """One PageEntry per address; `phys_addr` includes the offset within the page (None when the page
    is not present or the PFN is hidden: PFNs need CAP_SYS_ADMIN)."""
    import dataclasses

    out = []
    for a in addrs:
        if not 0 <= a < 1 << 64:
            raise InvalidInput(f"not a 64-bit address: {a:#x}", pid=pid)
        got = entries(pid, a, a + 1, root=root)
        if not got:      # pagemap ends where the user address space does (TASK_SIZE)
            raise InvalidInput(f"address {a:#x} is beyond the user address space of process {pid}", pid=pid,
                               hint="see `memdive maps PID` for the mappings")
        e = got[0]
        pa = e.phys_addr + (a - e.address) if e.phys_addr is not None else None
        out.append(dataclasses.replace(e, address=a, phys_addr=pa))
    return out
