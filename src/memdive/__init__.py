"""memdive: Linux memory, from the address space down to DRAM.

The public API, re-exported lazily (importing memdive costs nothing until a name is used):

    memdive.Process(pid)        .maps() .rollup() .layout() .status() .stat() .summary() .snapshot()
    memdive.processes()         every process's RSS/PSS/USS/swap (memdive.ps.PsResult)
    memdive.system()            the machine's memory at a glance (memdive.overview.SystemMemory)
    memdive.KernelRoot          where /proc and /sys are (fixture trees in tests)
    memdive.errors              MemdiveError, NoSuchProcess, ZombieProcess, AccessDenied, ...
"""

from __future__ import annotations

import sys

__version__ = "0.1.0"

_LAZY: dict[str, tuple[str, str]] = {
    "Process": ("memdive.process", "Process"),
    "processes": ("memdive.overview", "processes"),
    "system": ("memdive.overview", "system"),
    "residency": ("memdive.pages.incore", "residency"),
    "thp_system": ("memdive.hugepages.thp", "thp_system"),
    "thp_process": ("memdive.hugepages.thp", "thp_process"),
    "hugetlb_system": ("memdive.hugepages.hugetlb", "hugetlb_system"),
    "fragmentation": ("memdive.frag", "frag"),
    "numa_nodes": ("memdive.numa.topology", "nodes"),
    "numa_placement": ("memdive.numa.process", "placement"),
    "numa_migrate": ("memdive.numa.migration", "migrate"),
    "oom_score": ("memdive.kernel.ctl", "read_oom"),
    "memory_limits": ("memdive.kernel.ctl", "read_limits"),
    "overcommit": ("memdive.kernel.ctl", "read_overcommit"),
    "Sampler": ("memdive.monitor.sampler", "Sampler"),
    "Recorder": ("memdive.record.recorder", "Recorder"),
    "Recording": ("memdive.record.reader", "Recording"),
    "Exporter": ("memdive.exporter.server", "Exporter"),
    "KernelRoot": ("memdive.kernel.root", "KernelRoot"),
    "MemdiveError": ("memdive.errors", "MemdiveError"),
    "NoSuchProcess": ("memdive.errors", "NoSuchProcess"),
    "ZombieProcess": ("memdive.errors", "ZombieProcess"),
    "AccessDenied": ("memdive.errors", "AccessDenied"),
    "KernelFeatureMissing": ("memdive.errors", "KernelFeatureMissing"),
    "InvalidInput": ("memdive.errors", "InvalidInput"),
    "ParseError": ("memdive.errors", "ParseError"),
}

__all__ = list(_LAZY)


def _lazy_getattr(package: str, names: dict, submodules: bool = False):
    """The module `__getattr__` of a package whose public names are imported on first use (every
    command imports memdive; nothing it does not use may cost start-up time).

    names: NAME -> "submodule" (NAME is taken from package.submodule) or ("module", "attr").
    submodules: any other NAME imports package.NAME when that is a submodule."""
    def __getattr__(name: str) -> object:
        import importlib  # here, not at the top: `memdive cache` starts in ~25 ms and every ms shows

        where = names.get(name)
        if where is None:
            if submodules:
                try:
                    return importlib.import_module(f"{package}.{name}")
                except ModuleNotFoundError:
                    pass
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        mod, attr = (f"{package}.{where}", name) if isinstance(where, str) else where
        value = getattr(importlib.import_module(mod), attr)
        setattr(sys.modules[package], name, value)   # found directly from now on
        return value

    return __getattr__


__getattr__ = _lazy_getattr(__name__, _LAZY, submodules=True)   # subpackages by name: memdive.pages, ...
