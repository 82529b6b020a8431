"""Where /proc and /sys are, from the environment: KernelRoot's defaults (see root.py).

MEMDIVE_ROOT names a tree holding proc/ and sys/; MEMDIVE_PROC and MEMDIVE_SYS name each one.
This module imports only os, so `memdive ps` can find /proc and start reading before anything else
is imported (root.py's named tuple brings `collections`: 2 ms, lost whole before the reads start).
"""

import os


def proc_dir() -> str:
    base = os.environ.get("MEMDIVE_ROOT")
    return os.environ.get("MEMDIVE_PROC", os.path.join(base, "proc") if base else "/proc")


def sys_dir() -> str:
    base = os.environ.get("MEMDIVE_ROOT")
    return os.environ.get("MEMDIVE_SYS", os.path.join(base, "sys") if base else "/sys")
