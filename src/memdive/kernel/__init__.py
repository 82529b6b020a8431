"""The only package that opens /proc or /sys or calls libc. Readers take a KernelRoot.

Modules: root (KernelRoot), io (reading and error translation), procfs (per-process files),
sysmm (meminfo, vmstat, PSI); later areas add their own interface families here.
"""

from .root import KernelRoot, default_root

__all__ = ["KernelRoot", "default_root"]
