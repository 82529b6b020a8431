"""ctypes bindings of libmemdive_bench.so (src/memdive/native/bench/): signatures and error codes."""

from __future__ import annotations

import ctypes as C

from ..errors import InvalidInput, MemdiveError

ABI = 1  # bench.h MDB_ABI

_lib: C.CDLL | None = None

_D, _I, _SZ, _P, _U64 = C.c_double, C.c_int, C.c_size_t, C.c_void_p, C.c_uint64
_PD, _PI, _PU64, _PI64 = C.POINTER(C.c_double), C.POINTER(C.c_int), C.POINTER(C.c_uint64), C.POINTER(C.c_int64)

_SIGS: dict[str, tuple[object, list[object]]] = {
    "mdb_abi": (_I, []),
    "mdb_now": (_D, []),
    "mdb_tsc_hz": (_D, [_D]),
    "mdb_stream_have_nt": (_I, []),
    "mdb_stream": (_I, [_P, _P, _P, _SZ, _I, _I, _PI, _I, _I, _I, _PD, _PD]),
    "mdb_chase_build": (_I, [_P, _SZ, _SZ, _U64]),
    "mdb_chase_cycle_len": (_SZ, [_P, _SZ]),
    "mdb_chase_run": (_I, [_P, _SZ, _SZ, _I, _I, _PD]),
    "mdb_matrix_fill": (_I, [_P, _I, _I, _I, _I, _PD]),
    "mdb_matrix_check": (_SZ, [_P, _I, _I]),
    "mdb_stride_read": (_I, [_P, _SZ, _SZ, _I, _I, _PD, _PU64, _PU64]),
    "mdb_fill_index": (_I, [_P, _SZ, _I, _U64]),
    "mdb_fill_iota64": (None, [_P, _SZ]),
    "mdb_fill_iota32": (None, [_P, _SZ]),
    "mdb_gather": (_I, [_P, _P, _SZ, _SZ, _I, _I, _I, _PD, _PU64]),
    "mdb_process_array": (_I, [_P, _SZ, _SZ, _I, _I, _I, _PD]),
    "mdb_process_array_check": (_SZ, [_P, _SZ, _I]),
    "mdb_false_sharing": (_I, [_I, _PI, _U64, _I, _I, _PD, _PI64]),
    "mdb_transpose": (_I, [_P, _P, _I, _I, _I, _I, _I, _I, _I, _PD]),
    "mdb_fill_matrix": (None, [_P, _I, _I]),
    "mdb_transpose_check": (_SZ, [_P, _P, _I, _I]),
    "mdb_tlb_map": (_P, [_I, _SZ, _PD, C.POINTER(C.c_size_t), C.POINTER(C.c_size_t), _PI]),
    "mdb_tlb_unmap": (None, [_P]),
}

ENOMEM, EINVAL, ETHREAD, EVALIDATE = -2, -1, -3, -4


def lib() -> C.CDLL:
    """The loaded library with every signature declared (ABI checked once)."""
    global _lib
    if _lib is None:
        from .. import native

        handle = native.load("bench")
        for name, (res, args) in _SIGS.items():
            fn = getattr(handle, name)
            fn.restype = res
            fn.argtypes = args
        got = handle.mdb_abi()
        if got != ABI:
            raise MemdiveError(f"libmemdive_bench ABI {got} != Python's {ABI}", hint="reinstall memdive")
        _lib = handle
    return _lib


def check(rc: int, what: str) -> bool:
    """Raise for a negative return; True when the kernel ran pinned (rc 0), False if pinning failed (1)."""
    if rc == EINVAL:
        raise InvalidInput(f"{what}: invalid parameters")
    if rc == ENOMEM:
        raise MemdiveError(f"{what}: out of memory")
    if rc == ETHREAD:
        raise MemdiveError(f"{what}: could not start threads")
    if rc == EVALIDATE:
        raise MemdiveError(f"{what}: results failed validation (the kernel computed wrong values)")
    if rc < 0:
        raise MemdiveError(f"{what}: failed ({rc})")
    return rc == 0


def doubles(n: int) -> C.Array:
    return (C.c_double * n)()


def ints(values) -> C.Array:
    v = list(values)
    return (C.c_int * len(v))(*v)
