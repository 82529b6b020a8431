"""Matrix transpose three ways: naive, blocked (tiles), and the seed's cache_oblivious_transpose."""

from __future__ import annotations

from ..errors import InvalidInput, MemdiveError
from ..models.bench import TransposeResult, TransposeRow
from . import _native, env
from .buffers import Buffer, combine

METHODS = ("naive", "blocked", "cache-oblivious")


def transpose(sizes: tuple[int, ...] = (256, 1024, 2048, 4096), block: int = 32, repeats: int = 3, warmup: int = 1,
              pages: str = "4k", cpu: int | None = None) -> TransposeResult:
    env.check_repeats(repeats)
    if not sizes or min(sizes) < 2 or block < 1:
        raise InvalidInput("transpose: sizes must be >= 2 and block >= 1")
    cpu = env.pin_cpu(cpu)
    lib = _native.lib()
    rows: list[TransposeRow] = []
    pinned = True
    backings = []
    for n in sorted(set(sizes)):
        nbytes = n * n * 8
        with Buffer(nbytes, pages) as a, Buffer(nbytes, pages) as b:
            lib.mdb_fill_matrix(a.addr, n, n)
            base = 1.0  # the naive median, set first
            for k, m in enumerate(METHODS):
                t = _native.doubles(repeats)
                pinned &= _native.check(lib.mdb_transpose(a.addr, b.addr, n, n, k, block, repeats, warmup, cpu, t),
                                        "transpose")
                if lib.mdb_transpose_check(a.addr, b.addr, n, n):
                    raise MemdiveError(f"transpose: {m} computed a wrong transpose at N={n}")
                st = env.stats(t).map(lambda s, e=n * n: s * 1e9 / e)
                base = st.median if k == 0 else base
                rows.append(TransposeRow(n=n, method=m, ns_per_element=st, gb_per_second=16 / st.median,
                                         speedup=base / st.median))
            backings += [a.backing(), b.backing()]
    return TransposeResult(env=env.make_env([cpu], pinned, repeats, warmup), block=block, validated=True, backing=combine(backings),
                           rows=tuple(rows))
