"""The lock-free pool (libmemdive_pool.so): from C threads, from Python threads, stress, double free."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from memdive import native
from memdive.alloc import Pool, buffer
from memdive.alloc.pool import PoolError, PoolExhausted
from memdive.errors import InvalidInput

NATIVE = native.path("pool").rsplit("/", 1)[0]


@pytest.fixture(scope="module")
def pool_c(tmp_path_factory):
    # Built here, not with cbuild: its output name is made from the flags, which hold paths.
    exe = tmp_path_factory.mktemp("poolc") / "alloc_pool_c"
    src = Path(__file__).parents[1] / "helpers" / "alloc_pool_c.c"
    subprocess.run(["gcc", "-O2", "-pthread", "-o", str(exe), str(src), f"-I{NATIVE}/pool", f"-L{NATIVE}",
                    "-lmemdive_pool", f"-Wl,-rpath,{NATIVE}"], check=True, capture_output=True)
    return exe


def _kv(out: str) -> dict[str, int]:
    return {k: int(v) for k, v in (t.split("=") for t in out.split() if "=" in t)}


def test_c_threads_on_four_slots_never_share_a_slot(pool_c):
    # 4 threads x 500k alloc/free on 4 slots: heavy contention on the head, the ABA case of the seed's pool.
    out = subprocess.run([str(pool_c), "4", "500000", "4"], capture_output=True, text=True, timeout=60, check=True)
    r = _kv(out.stdout)
    assert r["clashes"] == 0
    assert r["allocs"] == r["frees"] == 4 * 500000 - r["empties"]
    assert r["in_use"] == 0
    assert (r["first"], r["second"], r["foreign"]) == (0, -2, -3)   # double free and foreign refused
    assert r["drained"] == 4                                          # the refusals did not corrupt the list


def test_python_threads_never_get_one_slot_twice():
    pool = Pool(16, 8)
    errors: list[str] = []
    owners = [0] * 8
    lock = threading.Lock()

    def work(me: int) -> None:
        for _ in range(5000):
            try:
                i = pool.alloc_index()
            except PoolExhausted:
                continue
            with lock:
                if owners[i]:
                    errors.append(f"slot {i} given to {me} while {owners[i]} holds it")
                owners[i] = me
            v = pool.view(i)
            v[:8] = me.to_bytes(8, "little")
            if int.from_bytes(v[:8], "little") != me:
                errors.append(f"slot {i} overwritten")
            with lock:
                owners[i] = 0
            pool.free_index(i)

    ts = [threading.Thread(target=work, args=(k,)) for k in range(1, 5)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    s = pool.stats()
    assert s.allocs == s.frees and s.in_use == 0 and s.double_frees == 0
    assert s.allocs + s.failures == 4 * 5000


def test_stress_millions_of_operations_from_two_threads():
    pool = Pool(64, 16)
    fails = []

    def work(seed: int) -> None:
        fails.append(pool.churn(2_000_000, batch=8, seed=seed))   # raises if a slot is handed out twice

    ts = [threading.Thread(target=work, args=(s,)) for s in (1, 2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    s = pool.stats()
    assert len(fails) == 2
    assert s.allocs == s.frees >= 4_000_000 and s.in_use == 0
    assert s.generation == 2 * s.allocs                              # every push and pop moved the ABA tag


def test_double_free_foreign_and_exhaustion_from_python():
    with Pool(100, 3) as pool:
        assert pool.slot_size == 104                                  # rounded to 8-byte alignment
        a = pool.alloc()
        assert len(a) == 104 and not a.readonly
        a[:3] = b"abc"
        assert bytes(pool.view(pool.index_of(a))[:3]) == b"abc"
        pool.free(a)
        with pytest.raises(PoolError, match="double free"):
            pool.free(a)
        with pytest.raises(PoolError, match="not a slot"):
            pool.free(memoryview(bytearray(104)))
        with pytest.raises(PoolError, match="not a slot"):
            pool.free(7)
        held = [pool.alloc() for _ in range(3)]
        with pytest.raises(PoolExhausted, match="all 3 slots"):
            pool.alloc()
        s = pool.stats()
        assert (s.in_use, s.double_frees, s.foreign_frees, s.failures) == (3, 1, 1, 1)   # Python refused one itself
        for h in held:
            pool.free(h)
        assert pool.stats().in_use == 0


def test_pool_on_a_placed_buffer_keeps_it_open():
    buf = buffer(1 << 20, pages="thp", populate=True)
    pool = Pool(4096, 256, buffer=buf)
    assert pool.address == buf.address
    v = pool.alloc()
    v[:] = b"x" * 4096
    assert buf.view[pool.index_of(v) * 4096] == ord("x")
    with pytest.raises(BufferError):
        buf.close()                                                   # the pool's views are alive
    del v
    pool.close()
    buf.close()
    assert buf.closed


def test_alloc_many_and_free_many():
    pool = Pool(32, 10)
    a = pool.alloc_many(4)
    b = pool.alloc_many(100)                      # only 6 left
    assert len(a) == 4 and len(b) == 6 and len(set(a) | set(b)) == 10
    assert len(pool.alloc_many(1)) == 0 and pool.stats().failures == 2   # b ran dry once, this once
    with pytest.raises(PoolError, match="double free of pool slot 0"):
        pool.free_many([0, 0, 1])                 # 0 freed once, refused once; 1 still freed
    assert not pool.in_use(0) and not pool.in_use(1)
    pool.free_many([i for i in list(a) + list(b) if i not in (0, 1)])
    assert pool.stats().in_use == 0


def test_bad_pool_arguments():
    with pytest.raises(InvalidInput):
        Pool(0, 10)
    with pytest.raises(InvalidInput):
        Pool(64, 10, buffer=bytearray(100))
    with pytest.raises(InvalidInput, match="writable"):
        Pool(8, 2, buffer=b"0123456789abcdef")


def _build_aba(tmp_path, pool_c_source: Path) -> str:
    exe = tmp_path / "alloc_pool_aba"
    helper = Path(__file__).parents[1] / "helpers" / "alloc_pool_aba.c"
    subprocess.run(["gcc", "-O1", "-DMEMDIVE_POOL_TEST_HOOK", f"-I{SOURCES}", f"-I{SOURCES}/pool", "-o", str(exe),
                    str(helper), str(pool_c_source)], check=True, capture_output=True)
    return str(exe)


SOURCES = str(Path(__file__).parents[2] / "src" / "memdive" / "native")


def test_aba_interleaving_replayed_is_refused(tmp_path):
    exe = _build_aba(tmp_path, Path(SOURCES) / "pool" / "pool.c")
    r = _kv(subprocess.run([exe], capture_output=True, text=True, timeout=30, check=True).stdout)
    assert (r["b_first"], r["b_second"]) == (0, 1)      # B took 0 and 1 and gave 0 back inside A's window
    assert r["a"] == 0                                   # A's stale CAS failed, it retried and got 0
    assert r["next"] not in (r["a"], r["b_second"])      # slot 1 is not handed out twice
    assert r["in_use"] == 3


def test_the_aba_replay_catches_an_untagged_head(tmp_path):
    # The same replay on a copy of the pool whose CAS ignores the generation (the seed's algorithm):
    # it must fail, or the test above proves nothing.
    src = (Path(SOURCES) / "pool" / "pool.c").read_text()
    bad = src.replace("uint64_t want = (((head >> TAG_SHIFT) + 1) << TAG_SHIFT) | nxt;", "uint64_t want = nxt;")
    bad = bad.replace("uint64_t want = (((head >> TAG_SHIFT) + 1) << TAG_SHIFT) | (uint64_t)(i + 1);",
                      "uint64_t want = (uint64_t)(i + 1);")
    assert bad.count("uint64_t want = ") == 2 and "TAG_SHIFT) + 1)" not in bad
    p = tmp_path / "pool_untagged.c"
    p.write_text(bad)
    exe = _build_aba(tmp_path, p)
    r = _kv(subprocess.run([exe], capture_output=True, text=True, timeout=30, check=True).stdout)
    assert r["next"] == r["b_second"] == 1               # slot 1 handed out twice: the ABA bug
