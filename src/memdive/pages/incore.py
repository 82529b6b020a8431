"""memdive.residency: which pages of one's own memory are resident (mincore), the seed's
analyze_page_faults for any buffer."""

from __future__ import annotations

from ..errors import InvalidInput
from ..kernel import libc as _libc
from ..models.pages import Residency

_CHUNK_PAGES = 1 << 24          # 16 MiB of mincore vector per call (64 GiB of address space)


def _address_of(obj) -> tuple[int, int]:
    import numpy as np

    if isinstance(obj, tuple) and len(obj) == 2 and all(isinstance(x, int) for x in obj):
        return obj[0], obj[1]
    if isinstance(obj, np.ndarray):
        return int(obj.ctypes.data), int(obj.nbytes)
    try:
        mv = memoryview(obj)
    except TypeError:
        raise InvalidInput(f"residency() needs a buffer (bytearray, mmap, numpy array, memoryview) or an "
                           f"(address, length) pair, not {type(obj).__name__}") from None
    if not mv.c_contiguous:
        raise InvalidInput("residency() needs a contiguous buffer")
    if mv.nbytes == 0:
        return 0, 0
    a = np.frombuffer(mv.cast("B"), dtype=np.uint8)
    return int(a.ctypes.data), int(a.nbytes)


def residency(obj=None, *, start: int | None = None, length: int | None = None) -> Residency:
    """mincore() over a buffer of this process, or over [start, start+length).

    The range is widened to whole pages. A range that is not mapped raises MemdiveError (ENOMEM).
    """
    if obj is None:
        if start is None or length is None:
            raise InvalidInput("give a buffer, or start= and length=")
        addr, n = start, length
    else:
        addr, n = _address_of(obj)
    page = _libc.PAGE_SIZE
    lo = addr - addr % page
    hi = addr + n
    pages = (hi - lo + page - 1) // page if n else 0
    vec = bytearray()
    for p in range(0, pages, _CHUNK_PAGES):
        k = min(_CHUNK_PAGES, pages - p)
        vec += _libc.mincore(lo + p * page, k * page)
    import numpy as np

    resident = int(np.count_nonzero(np.frombuffer(bytes(vec), dtype=np.uint8) & 1)) if vec else 0
    return Residency(start=lo, length_bytes=pages * page, page_size_bytes=page, pages=pages,
                     resident_pages=resident, vector=bytes(vec))
