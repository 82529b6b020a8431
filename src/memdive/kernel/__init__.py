"""The only package that opens /proc or /sys or calls libc. Readers take a KernelRoot.

Modules: root (KernelRoot; env: its defaults from the environment), io (reading and error translation),
procfs (per-process files), sysmm (meminfo, vmstat, PSI); later areas add their own interface families here.
"""

__all__ = ["KernelRoot", "default_root"]


def __getattr__(name: str) -> object:
    """KernelRoot and default_root, imported on first use: `ps` imports kernel.procread before anything
    else, and root's named tuple brings `collections` (see env.py). Written out rather than
    memdive._lazy_getattr, which imports importlib: `from .kernel import procfs` asks here first."""
    if name in __all__:
        from . import root

        return getattr(root, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
