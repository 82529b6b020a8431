"""Pool: fixed-size slots from the lock-free C pool (libmemdive_pool.so), handed out as memoryviews.

    pool = memdive.alloc.Pool(256, 10_000)            # slots live in a memdive.alloc.buffer
    mv = pool.alloc()                                  # a writable 256-byte memoryview
    pool.free(mv)                                      # a second free raises PoolError (double free)

Thread-safe without a Python lock: ctypes releases the GIL around each C call, and the C pool is
lock-free and ABA-safe (a generation-tagged head, links kept out of the slots). The same library
serves C programs (memdive/native/pool/pool.h). `alloc_index()`/`free_index()` skip the memoryview.
"""

from __future__ import annotations

import array
import ctypes
import functools
from typing import Self

from ..errors import InvalidInput, MemdiveError
from ..models.alloc import PoolStats

DOUBLE_FREE, FOREIGN = -2, -3
MAX_SLOTS = (1 << 28) - 2     # the head word holds a 28-bit index and a 36-bit generation
_lib = None


def _addr_of(mv: memoryview) -> int:
    """The address of a writable memoryview's first byte."""
    return ctypes.addressof(ctypes.c_char.from_buffer(mv))


class PoolError(InvalidInput):
    """A free the pool refused: double free, or memory that is not one of its slots."""


class PoolExhausted(MemdiveError):
    """Every slot is in use."""


class _Stats(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in (
        "slot_size", "count", "allocs", "frees", "in_use", "failures", "double_frees", "foreign_frees",
        "generation")]


def library() -> ctypes.CDLL:
    """libmemdive_pool.so with its prototypes set (ctypes.CDLL: calls release the GIL)."""
    global _lib
    if _lib is None:
        from .. import native

        lib = native.load("pool")
        vp, sz, i64 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int64
        for name, res, args in (
            ("memdive_pool_abi", ctypes.c_int, []),
            ("memdive_pool_init", vp, [vp, sz, sz]),
            ("memdive_pool_create", vp, [sz, sz]),
            ("memdive_pool_destroy", None, [vp]),
            ("memdive_pool_alloc", vp, [vp]),
            ("memdive_pool_alloc_index", i64, [vp]),
            ("memdive_pool_free", ctypes.c_int, [vp, vp]),
            ("memdive_pool_free_index", ctypes.c_int, [vp, i64]),
            ("memdive_pool_alloc_many", sz, [vp, vp, sz]),
            ("memdive_pool_free_many", ctypes.c_int, [vp, vp, sz, ctypes.POINTER(ctypes.c_size_t)]),
            ("memdive_pool_owns", ctypes.c_int, [vp, vp]),
            ("memdive_pool_in_use", ctypes.c_int, [vp, i64]),
            ("memdive_pool_base", vp, [vp]),
            ("memdive_pool_stats", None, [vp, ctypes.POINTER(_Stats)]),
            ("memdive_pool_churn", i64, [vp, ctypes.c_uint64, ctypes.c_uint, ctypes.c_uint64]),
        ):
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        if lib.memdive_pool_abi() != native.ABI:
            raise MemdiveError(f"libmemdive_pool ABI {lib.memdive_pool_abi()} != {native.ABI}",
                               hint="reinstall memdive")
        _lib = lib
    return _lib


class Pool:
    """COUNT slots of SLOT_SIZE bytes. buffer: a memdive.alloc Buffer (or any writable buffer) to carve the
    slots from; by default a new memdive.alloc.buffer (so pages/node/lock can be chosen there)."""

    def __init__(self, slot_size: int, count: int, *, buffer=None, align: int = 8):
        for what, v in (("slot_size", slot_size), ("count", count)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise InvalidInput(f"Pool {what} must be a positive integer, not {v!r}")
        if count > MAX_SLOTS:
            raise InvalidInput(f"Pool count {count} is too large (at most {MAX_SLOTS} slots)")
        if align <= 0 or align & (align - 1):
            raise InvalidInput(f"align={align!r}: must be a power of two")
        self.slot_size = (slot_size + align - 1) // align * align
        self.count = count
        need = self.slot_size * count
        self._owned = None
        if buffer is None:
            from .buffer import buffer as make_buffer

            buffer = self._owned = make_buffer(need)
        view = buffer.view if hasattr(buffer, "view") and not isinstance(buffer, memoryview) else memoryview(buffer)
        view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
        if view.readonly:
            raise InvalidInput("the pool's buffer must be writable")
        if view.nbytes < need:
            raise InvalidInput(f"the buffer holds {view.nbytes} bytes; {count} slots of {self.slot_size} "
                               f"need {need}")
        self._view = view[:need]
        self._base = ctypes.addressof(ctypes.c_char.from_buffer(self._view))
        lib = library()
        self._lib = lib
        p = lib.memdive_pool_init(self._base, self.slot_size, count)
        if not p:
            raise MemdiveError(f"memdive_pool_init failed (errno {ctypes.get_errno()})")
        self._p: ctypes.c_void_p | None = ctypes.c_void_p(p)
        # Bound once: the per-operation cost from Python is then one ctypes call (the GIL is released in it).
        self._c_alloc = functools.partial(lib.memdive_pool_alloc_index, self._p)
        self._c_free = functools.partial(lib.memdive_pool_free_index, self._p)

    @property
    def address(self) -> int:
        """The first slot's address."""
        return self._base

    def _handle(self) -> ctypes.c_void_p:
        if self._p is None:
            raise InvalidInput("the pool is closed")
        return self._p

    def alloc_index(self) -> int:
        """A free slot's index; PoolExhausted when none is free."""
        if self._p is None:
            raise InvalidInput("the pool is closed")
        i = self._c_alloc()
        if i < 0:
            raise PoolExhausted(f"pool exhausted: all {self.count} slots of {self.slot_size} bytes are in use",
                                hint="free slots or create the pool with a larger count")
        return i

    def free_index(self, index: int) -> None:
        if self._p is None:
            raise InvalidInput("the pool is closed")
        rc = self._c_free(index)
        if rc:
            self._refused(rc, index)

    def _refused(self, rc: int, what) -> None:
        if rc == DOUBLE_FREE:
            raise PoolError(f"double free of pool slot {what}: it is already free")
        raise PoolError(f"{what} is not a slot of this pool (slots 0..{self.count - 1})")

    def alloc_many(self, n: int) -> array.array:
        """Up to N slot indices in one C call (array('q'); shorter when the pool runs empty)."""
        if self._p is None:
            raise InvalidInput("the pool is closed")
        out = array.array("q", bytes(8 * n))
        got = self._lib.memdive_pool_alloc_many(self._p, out.buffer_info()[0], n) if n > 0 else 0
        del out[got:]
        return out

    def free_many(self, indices) -> None:
        """Free many indices in one C call; every valid one is freed even if another is refused."""
        if self._p is None:
            raise InvalidInput("the pool is closed")
        a = indices if isinstance(indices, array.array) and indices.typecode == "q" else array.array("q", indices)
        if not a:
            return
        bad = ctypes.c_size_t(0)
        rc = self._lib.memdive_pool_free_many(self._p, a.buffer_info()[0], len(a), ctypes.byref(bad))
        if rc:
            self._refused(rc, a[bad.value])

    def view(self, index: int) -> memoryview:
        """The memoryview of slot INDEX."""
        if not 0 <= index < self.count:
            raise InvalidInput(f"slot {index} out of range 0..{self.count - 1}")
        off = index * self.slot_size
        return self._view[off:off + self.slot_size]

    def alloc(self) -> memoryview:
        """A free slot as a writable memoryview of slot_size bytes."""
        off = self.alloc_index() * self.slot_size
        return self._view[off:off + self.slot_size]

    def index_of(self, slot: memoryview) -> int:
        """The index of a memoryview returned by alloc() (PoolError for anything else)."""
        if type(slot) is not memoryview or slot.nbytes != self.slot_size or slot.readonly:
            raise PoolError("not a slot of this pool (a memoryview from Pool.alloc() is expected)")
        off = _addr_of(slot) - self._base
        if off < 0 or off % self.slot_size or off // self.slot_size >= self.count:
            raise PoolError("not a slot of this pool (its address lies outside the pool's slots)")
        return off // self.slot_size

    def free(self, slot: memoryview | int) -> None:
        """Return a slot (its memoryview or index). A double free raises PoolError and changes nothing."""
        # mypy cannot narrow the else branch to memoryview: an int subclass (bool) lands there too, and
        # index_of() refuses it
        self.free_index(slot if type(slot) is int else self.index_of(slot))  # type: ignore[arg-type]

    def in_use(self, index: int) -> bool:
        return self._lib.memdive_pool_in_use(self._handle(), index) == 1

    def stats(self) -> PoolStats:
        """Counters: exact while no thread allocates or frees (allocs and frees are derived from the
        ABA generation and the slots in use, not counted on the hot path)."""
        s = _Stats()
        self._lib.memdive_pool_stats(self._handle(), ctypes.byref(s))
        return PoolStats(slot_size_bytes=s.slot_size, slots=s.count, allocs=s.allocs, frees=s.frees,
                         in_use=s.in_use, failures=s.failures,
                         double_frees=s.double_frees, foreign_frees=s.foreign_frees, generation=s.generation)

    def churn(self, pairs: int, batch: int = 8, seed: int = 1) -> int:
        """PAIRS alloc/free pairs in C (holding up to BATCH slots at once), the GIL released: for stress
        tests and benchmarks. Returns allocations refused for exhaustion; raises if a slot was handed out
        twice (its stamp was overwritten by another owner)."""
        r = self._lib.memdive_pool_churn(self._handle(), pairs, batch, seed)
        if r < 0:
            raise MemdiveError("pool churn: a slot was handed out twice (its stamp was overwritten)")
        return r

    def close(self) -> None:
        if self._p is not None:
            self._lib.memdive_pool_destroy(self._p)
            self._p = None
            self._view.release()
            if self._owned is not None:
                from .buffer import BufferInUse

                try:
                    self._owned.close()
                except BufferInUse:
                    pass      # slots still viewed: the mapping goes when the last view does
                self._owned = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            if getattr(self, "_p", None) is not None:
                self._lib.memdive_pool_destroy(self._p)
                self._p = None
        except Exception:  # noqa: BLE001, S110 - __del__ must not raise (it also runs at shutdown)
            pass

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        s = self.stats() if self._p is not None else None
        return (f"<memdive.alloc.Pool {self.count} x {self.slot_size} B" +
                (f", {s.in_use} in use>" if s else ", closed>"))
