"""Where the kernel's files are: /proc and /sys, or a fixture tree.

`KernelRoot()` reads MEMDIVE_ROOT (a tree holding proc/ and sys/), or MEMDIVE_PROC / MEMDIVE_SYS,
and defaults to the live /proc and /sys. Every reader takes a root, so tests pass fixture trees
explicitly and nothing global is mutated.
"""

from __future__ import annotations

import os
from collections import namedtuple

from .env import proc_dir, sys_dir


class KernelRoot(namedtuple("KernelRoot", ["proc", "sys"], defaults=("/proc", "/sys"))):
    """Paths of procfs and sysfs. Immutable (a named tuple: cheap to import on the `ps` hot path)."""

    __slots__ = ()

    @classmethod
    def from_env(cls) -> KernelRoot:
        return cls(proc=proc_dir(), sys=sys_dir())

    @classmethod
    def at(cls, base: str) -> KernelRoot:
        """A fixture tree laid out as BASE/proc and BASE/sys."""
        return cls(proc=os.path.join(base, "proc"), sys=os.path.join(base, "sys"))

    @property
    def is_live(self) -> bool:
        return self.proc == "/proc" and self.sys == "/sys"

    def pid_path(self, pid: int | str, name: str = "") -> str:
        return f"{self.proc}/{pid}/{name}" if name else f"{self.proc}/{pid}"

    def proc_path(self, name: str) -> str:
        return f"{self.proc}/{name}"

    def sys_path(self, name: str) -> str:
        return f"{self.sys}/{name}"


_default: KernelRoot | None = None


def default_root() -> KernelRoot:
    """The root from the environment, computed once per process."""
    global _default
    if _default is None:
        _default = KernelRoot.from_env()
    return _default


def resolve(root: KernelRoot | None) -> KernelRoot:
    return root if root is not None else default_root()
