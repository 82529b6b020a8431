"""The only package that opens /proc or /sys or calls libc. Readers take a KernelRoot.

Modules: root (KernelRoot; env: its defaults from the environment), io (reading and error translation),
procfs (per-process files), sysmm (meminfo, vmstat, PSI); later areas add their own interface families here.
"""

from .. import _lazy_getattr

__all__ = ["KernelRoot", "default_root"]

# imported on first use: `ps` imports kernel.procread before anything else, and root's named tuple
# brings `collections` (see env.py)
__getattr__ = _lazy_getattr(__name__, {"KernelRoot": "root", "default_root": "root"})
