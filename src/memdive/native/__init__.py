"""Loading the C core: plain shared libraries built by `pip install` into this folder.

`load("bench")` returns a ctypes.CDLL for libmemdive_bench.so; `path("shim")` the file (for LD_PRELOAD).
Nothing is compiled at run time: a missing library means the package was not built.
The one extension module here, `_procread` (the parallel /proc reader of `ps`), is imported as a
module; this package imports ctypes only when a library is loaded, so importing it costs nothing.
"""

from __future__ import annotations

import os

from ..errors import MemdiveError

_HERE = os.path.dirname(os.path.abspath(__file__))
_cache: dict = {}   # name -> ctypes.CDLL

ABI = 1  # memdive_native.h MEMDIVE_NATIVE_ABI


def path(name: str) -> str:
    p = os.path.join(_HERE, f"libmemdive_{name}.so")
    if not os.path.exists(p):
        raise MemdiveError(f"the C core library libmemdive_{name}.so is missing from {_HERE}",
                           path=p, hint="reinstall memdive with a C compiler present: pip install --force-reinstall .")
    return p


def program(name: str) -> str:
    """The path of a program built beside the libraries (setup.py NATIVE_PROGRAMS), e.g. memdive-launch."""
    p = os.path.join(_HERE, name)
    if not os.access(p, os.X_OK):
        raise MemdiveError(f"the C core program {name} is missing from {_HERE}", path=p,
                           hint="reinstall memdive with a C compiler present: pip install --force-reinstall .")
    return p


def load(name: str):
    """The library libmemdive_NAME.so as a ctypes.CDLL (loaded once)."""
    lib = _cache.get(name)
    if lib is None:
        import ctypes

        lib = ctypes.CDLL(path(name), use_errno=True)
        _cache[name] = lib
    return lib


def check_abi() -> int:
    got = load("core").memdive_native_abi()
    if got != ABI:
        raise MemdiveError(f"C core ABI {got} != Python's {ABI}", hint="reinstall memdive")
    return got
