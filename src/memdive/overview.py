"""The machine's memory at a glance: free + vmstat + PSI + hugetlb pools + top processes."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import KernelFeatureMissing, MemdiveError
from .kernel import sysmm
from .kernel.root import KernelRoot, resolve
from .models.system import MemInfo, Pressure

# vmstat counters that matter, grouped as the overview shows them.
VMSTAT_KEYS: dict[str, tuple[str, ...]] = {
    "faults": ("pgfault", "pgmajfault"),
    "swap": ("pswpin", "pswpout"),
    "reclaim": ("pgscan_kswapd", "pgscan_direct", "pgsteal_kswapd", "pgsteal_direct",
                "allocstall_normal", "allocstall_movable", "workingset_refault_anon", "workingset_refault_file"),
    "compaction": ("compact_stall", "compact_fail", "compact_success", "compact_migrate_scanned",
                   "compact_free_scanned"),
    "thp": ("thp_fault_alloc", "thp_fault_fallback", "thp_collapse_alloc", "thp_collapse_alloc_failed",
            "thp_split_page", "thp_zero_page_alloc"),
    "oom": ("oom_kill",),
}


@dataclass(frozen=True, slots=True)
class HugePool:
    page_size_bytes: int
    total: int
    free: int
    reserved: int
    surplus: int


@dataclass(frozen=True, slots=True)
class SystemMemory:
    """Everything `memdive sys` shows. Bytes as integers; vmstat counters since boot."""

    total_bytes: int
    used_bytes: int
    free_bytes: int
    available_bytes: int | None
    buffers_bytes: int
    page_cache_bytes: int          # Cached (incl. shmem) as meminfo reports it
    shmem_bytes: int
    slab_reclaimable_bytes: int
    slab_unreclaimable_bytes: int
    kernel_stack_bytes: int
    page_tables_bytes: int
    anon_bytes: int
    anon_thp_bytes: int
    hugetlb_bytes: int
    hugetlb_pools: list[HugePool]
    committed_bytes: int
    commit_limit_bytes: int
    swap_total_bytes: int
    swap_free_bytes: int
    vmstat: dict[str, dict[str, int]]
    vmstat_rates: dict[str, dict[str, float]] | None   # per second over --interval, if sampled
    pressure: Pressure | None
    pressure_unavailable: str | None
    top: list                       # ProcessMemory, by PSS
    top_note: str | None = None     # e.g. how many processes could not be read


def hugetlb_pools(meminfo: MemInfo, root: KernelRoot) -> list[HugePool]:
    from .kernel import hugetlb as khuge

    try:
        found = [(size, khuge.read_pool_counts(size, root)) for size in khuge.pool_sizes(root)]
    except MemdiveError:
        found = []
    # Listed in the order of the sysfs directory names (hugepages-1048576kB before hugepages-2048kB).
    found.sort(key=lambda f: f"hugepages-{f[0] // 1024}kB")
    pools = [HugePool(size, c["total"], c["free"], c["reserved"], c["surplus"]) for size, c in found]
    if not pools and meminfo.get("Hugepagesize"):
        v = meminfo.values
        pools.append(HugePool(v["Hugepagesize"], v.get("HugePages_Total", 0), v.get("HugePages_Free", 0),
                              v.get("HugePages_Rsvd", 0), v.get("HugePages_Surp", 0)))
    return pools


def select_vmstat(vm: dict[str, int]) -> dict[str, dict[str, int]]:
    return {g: {k: vm[k] for k in keys if k in vm} for g, keys in VMSTAT_KEYS.items()}


def system(root: KernelRoot | None = None, *, top: int = 5, interval: float = 0.0) -> SystemMemory:
    """Read meminfo, vmstat, PSI and the top processes by PSS. With `interval`, vmstat rates too."""
    r = resolve(root)
    mi = sysmm.read_meminfo(r)
    vm = sysmm.read_vmstat(r)
    rates = None
    if interval > 0:
        import time

        t0 = time.monotonic()
        time.sleep(interval)
        vm2 = sysmm.read_vmstat(r)
        dt = time.monotonic() - t0
        sel1, sel2 = select_vmstat(vm), select_vmstat(vm2)
        rates = {g: {k: (sel2[g][k] - v) / dt for k, v in d.items()} for g, d in sel1.items()}
        vm, mi = vm2, sysmm.read_meminfo(r)
    try:
        psi, psi_note = sysmm.read_pressure(r), None
    except KernelFeatureMissing as e:
        psi, psi_note = None, e.one_line()
    except MemdiveError as e:
        psi, psi_note = None, str(e)
    top_list: list = []
    note = None
    if top:
        from .ps import scan, sort_processes

        res = scan(r)
        top_list = sort_processes(res.processes, "pss")[:top]
        note = res.hint
    v = mi.values
    pools = hugetlb_pools(mi, r)
    return SystemMemory(
        total_bytes=mi.total_bytes, used_bytes=mi.used_bytes, free_bytes=mi.free_bytes,
        available_bytes=mi.available_bytes, buffers_bytes=mi.buffers_bytes, page_cache_bytes=v.get("Cached", 0),
        shmem_bytes=v.get("Shmem", 0), slab_reclaimable_bytes=v.get("SReclaimable", 0),
        slab_unreclaimable_bytes=v.get("SUnreclaim", 0), kernel_stack_bytes=v.get("KernelStack", 0),
        page_tables_bytes=v.get("PageTables", 0), anon_bytes=v.get("AnonPages", 0),
        anon_thp_bytes=v.get("AnonHugePages", 0),
        hugetlb_bytes=v.get("Hugetlb", sum(p.total * p.page_size_bytes for p in pools)),
        hugetlb_pools=pools, committed_bytes=v.get("Committed_AS", 0), commit_limit_bytes=v.get("CommitLimit", 0),
        swap_total_bytes=v.get("SwapTotal", 0), swap_free_bytes=v.get("SwapFree", 0),
        vmstat=select_vmstat(vm), vmstat_rates=rates, pressure=psi, pressure_unavailable=psi_note,
        top=top_list, top_note=note,
    )


def processes(root: KernelRoot | None = None, **kw):
    """All processes' memory (memdive.ps.scan)."""
    from .ps import scan

    return scan(root, **kw)
