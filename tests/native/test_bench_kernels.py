"""memdive bench's C kernels on small sizes, each checked independently from Python/numpy:
STREAM results against the scalar sequence, the chase is one cycle visiting every node once,
counters sum to what the threads added, gathers/transposes/fills against numpy, and the page
backing a buffer reports against this process's own smaps."""

from __future__ import annotations

import ctypes as C
import os

import numpy as np
import pytest

from memdive import bench
from memdive.bench import _native
from memdive.bench.buffers import Buffer
from memdive.errors import InvalidInput, MemdiveError

lib = _native.lib()
NCPU = len(os.sched_getaffinity(0))


def np_view(buf: Buffer, dtype, count: int, offset: int = 0) -> np.ndarray:
    raw = (C.c_char * (count * np.dtype(dtype).itemsize)).from_address(buf.addr + offset)
    return np.frombuffer(raw, dtype=dtype)


def scalar_sequence(mask: int, passes: int):
    a, b, c = 1.0, 2.0, 0.0
    for _ in range(passes):
        for k in range(6):
            if not mask & (1 << k):
                continue
            if k == 1:
                c = 7.0
            elif k == 2:
                c = a
            elif k == 3:
                b = 3.0 * c
            elif k == 4:
                c = a + b
            elif k == 5:
                a = b + 3.0 * c
    return a, b, c


@pytest.mark.parametrize("threads,nt,mask", [(1, 0, 0b111111), (min(2, NCPU), 0, 0b111111), (1, 1, 0b111100),
                                             (min(2, NCPU), 0, 0b100100)])
def test_stream_arrays_match_scalar_sequence(threads, nt, mask):
    n = 100_003  # not a multiple of the vector width or the thread split
    reps, warm = 3, 1
    bufs = [Buffer(n * 8) for _ in range(3)]
    try:
        times = _native.doubles(6 * reps)
        err = C.c_double(-1)
        cpus = _native.ints(sorted(os.sched_getaffinity(0))[:threads])
        rc = lib.mdb_stream(bufs[0].addr, bufs[1].addr, bufs[2].addr, n, mask, threads, cpus, reps, warm, nt, times,
                            C.byref(err))
        assert rc == 0 and err.value == 0.0
        want = scalar_sequence(mask, reps + warm)
        for buf, w in zip(bufs, want):
            arr = np_view(buf, np.float64, n)
            assert np.all(arr == w)
        for k in range(6):
            row = list(times[k * reps:(k + 1) * reps])
            assert all(t > 0 for t in row) if mask & (1 << k) else all(t == 0 for t in row)
    finally:
        for b in bufs:
            b.close()


def test_stream_rejects_bad_parameters():
    with Buffer(1 << 16) as b:
        t = _native.doubles(6)
        assert lib.mdb_stream(b.addr, b.addr, b.addr, 1024, 0, 1, None, 1, 0, 0, t, None) == _native.EINVAL
        assert lib.mdb_stream(b.addr, b.addr, b.addr, 1024, 1 << 6, 1, None, 1, 0, 0, t, None) == _native.EINVAL
    with pytest.raises(InvalidInput):
        _native.check(_native.EINVAL, "x")
    with pytest.raises(MemdiveError, match="validation"):
        _native.check(_native.EVALIDATE, "x")


def test_bandwidth_api_small():
    r = bench.bandwidth(size=1 << 20, threads=list(range(1, NCPU + 1))[:2], repeats=2)
    assert r.validated and r.max_rel_error == 0.0
    assert {x.kernel for x in r.rows} == {"read", "write", "copy", "scale", "add", "triad"}
    assert all(x.gb_per_second.min > 0 and x.gb_per_second.min <= x.gb_per_second.median <= x.gb_per_second.max
               for x in r.rows)
    triad = r.best("triad", 1)
    assert triad.bytes_per_pass == 24 * (1 << 20) // 8
    assert r.backing.obtained == "4k" and r.backing.rss_bytes == 3 << 20 and r.backing.size_bytes == 3 << 20
    assert r.env.pinned and r.env.cpus[0] in os.sched_getaffinity(0)
    with pytest.raises(InvalidInput, match="CPUs"):
        bench.bandwidth(size=1 << 20, threads=NCPU + 1)
    with pytest.raises(InvalidInput, match="unknown kernel"):
        bench.bandwidth(size=1 << 20, kernels=["fma"])


def test_bandwidth_odd_size_touches_the_three_arrays_and_no_gap_page():
    n = 100_003  # 781.3 KiB: not a page multiple, not split evenly
    r = bench.bandwidth(size=n * 8, threads=min(2, NCPU), kernels=("copy", "triad"), repeats=2)
    assert r.validated and r.max_rel_error == 0.0 and r.array_bytes == n * 8
    # the first touch faults each array's pages; the 8 KiB gaps between them stay unmapped in RAM
    assert r.backing.rss_bytes == 3 * ((n * 8 + 4095) // 4096 * 4096) and r.backing.size_bytes == 3 * n * 8


@pytest.mark.parametrize("n,stride", [(2, 64), (1000, 64), (4097, 64), (300, 4096), (64, 128)])
def test_chase_is_one_cycle_through_every_node(n, stride):
    with Buffer(n * stride) as b:
        assert lib.mdb_chase_build(b.addr, n, stride, 42) == 0
        assert lib.mdb_chase_cycle_len(b.addr, 10 * n) == n
        # walk it in Python: every node visited exactly once, each inside its own stride slot
        ptrs = np_view(b, np.uint64, n * stride // 8)
        seen, p = set(), b.addr
        for _ in range(n):
            slot = (p - b.addr) // stride
            assert slot not in seen and 0 <= slot < n and (p - b.addr) % 64 == 0
            seen.add(slot)
            p = int(ptrs[(p - b.addr) // 8])
        assert p == b.addr and len(seen) == n
        ns = _native.doubles(2)
        assert lib.mdb_chase_run(b.addr, 4096, 100, 2, -1, ns) == 0 and ns[0] > 0 and ns[1] > 0


def test_chase_build_rejects_bad_input():
    with Buffer(4096) as b:
        assert lib.mdb_chase_build(b.addr, 1, 64, 1) == _native.EINVAL
        assert lib.mdb_chase_build(b.addr, 4, 12, 1) == _native.EINVAL


def test_latency_api_small_finds_l1():
    r = bench.latency([4096, 8192, 16384], repeats=2, min_loads=1 << 16)
    assert [p.size_bytes for p in r.points] == [4096, 8192, 16384]
    assert all(0.1 < p.ns_per_load.min < 50 for p in r.points)
    assert r.levels and r.levels[0].name == "L1" and r.levels[0].sysfs_bytes
    assert r.env.tsc_hz is None or r.points[0].cycles_per_load > 0
    with pytest.raises(InvalidInput):
        bench.latency([64], repeats=1)
    with pytest.raises(InvalidInput):
        bench.latency([4096], repeats=0)


@pytest.mark.parametrize("padded", [0, 1])
def test_false_sharing_counters_add_up(padded):
    threads = min(2, NCPU)
    t = _native.doubles(2)
    total = C.c_int64()
    cpus = _native.ints(sorted(os.sched_getaffinity(0))[:threads])
    assert lib.mdb_false_sharing(threads, cpus, 100_000, padded, 2, t, C.byref(total)) == 0
    assert total.value == threads * 100_000 * 3
    r = bench.false_sharing(threads, 50_000, 2)
    assert r.validated and r.threads == threads and r.ratio > 0


def test_gather_and_index_against_numpy():
    n = 50_000
    with Buffer(n * 12) as b:
        data, idx = b.addr, b.addr + n * 8
        lib.mdb_fill_iota64(data, n)
        assert lib.mdb_fill_index(idx, n, 1, 99) == 0
        perm = np_view(b, np.uint32, n, n * 8).copy()
        assert np.array_equal(np.sort(perm), np.arange(n, dtype=np.uint32)) and not np.array_equal(perm, np.sort(perm))
        np_view(b, np.uint64, n)[:] = np.arange(n, dtype=np.uint64) * 3 + 1
        t, got = _native.doubles(1), C.c_uint64()
        for dist in (0, 16):
            assert lib.mdb_gather(data, idx, n, dist, 1, 0, -1, t, C.byref(got)) == 0
            assert got.value == int((np.arange(n, dtype=np.uint64) * 3 + 1).sum())


def test_process_array_check_detects_wrong_passes():
    n = 10_001
    with Buffer(n * 4) as b:
        lib.mdb_fill_iota32(b.addr, n)
        t = _native.doubles(2)
        assert lib.mdb_process_array(b.addr, n, 64, 2, 1, -1, t) == 0
        assert lib.mdb_process_array_check(b.addr, n, 3) == 0
        assert lib.mdb_process_array_check(b.addr, n, 2) == n  # the check can fail
        want = ((np.arange(n, dtype=np.uint64) + 1) * 8 - 1).astype(np.uint32)
        assert np.array_equal(np_view(b, np.uint32, n), want)


@pytest.mark.parametrize("method", [0, 1, 2])
def test_transpose_against_numpy(method):
    n, m = 37, 53
    with Buffer(n * m * 8) as a, Buffer(n * m * 8) as bb:
        A = np_view(a, np.float64, n * m).reshape(n, m)
        A[:] = np.random.default_rng(method).random((n, m))
        t = _native.doubles(1)
        assert lib.mdb_transpose(a.addr, bb.addr, n, m, method, 8, 1, 0, -1, t) == 0
        assert np.array_equal(np_view(bb, np.float64, n * m).reshape(m, n), A.T)
        assert lib.mdb_transpose_check(a.addr, bb.addr, n, m) == 0
        np_view(bb, np.float64, n * m)[5] += 1
        assert lib.mdb_transpose_check(a.addr, bb.addr, n, m) == 1


def test_matrix_fill_and_stride_sums():
    n = 64
    with Buffer(n * n * 8) as b:
        t = _native.doubles(2)
        for col in (0, 1):
            assert lib.mdb_matrix_fill(b.addr, n, col, 2, -1, t) == 0
            i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
            assert np.array_equal(np_view(b, np.float64, n * n).reshape(n, n), (i * j + 1).astype(np.float64))
            assert lib.mdb_matrix_check(b.addr, n, 1) == 0 and lib.mdb_matrix_check(b.addr, n, 0) > 0
    size = 1 << 16
    with Buffer(size) as b:
        w = np_view(b, np.uint64, size // 8)
        w[:] = np.arange(size // 8, dtype=np.uint64)
        for stride in (8, 16, 64, 256, 4096):
            t, acc, s = _native.doubles(1), C.c_uint64(), C.c_uint64()
            assert lib.mdb_stride_read(b.addr, size, stride, 1, -1, t, C.byref(acc), C.byref(s)) == 0
            if stride < 64:
                want = w[::stride // 8]
            else:  # one word per line, every line once
                want = w[::8]
            assert acc.value == len(want) and s.value == int(want.sum())


def test_prefetch_transpose_patterns_api_small():
    p = bench.prefetch(1 << 14, 2, seq_distances=(0, 64), gather_distances=(0, 16))
    assert p.validated and [(x.access, x.distance_elements) for x in p.rows] == [
        ("sequential", 0), ("sequential", 64), ("gather", 0), ("gather", 16)]
    assert p.rows[0].speedup == 1.0
    tr = bench.transpose((64,), repeats=1)
    assert tr.validated and [x.method for x in tr.rows] == ["naive", "blocked", "cache-oblivious"]
    assert tr.backing.obtained == "4k" and tr.backing.size_bytes == tr.backing.rss_bytes == 2 * 64 * 64 * 8
    pt = bench.patterns(64, 1 << 16, strides=(8, 64, 4096), elements=1 << 12, repeats=1)
    assert [x.test for x in pt.rows] == ["row-major", "column-major", "stride", "stride", "stride", "sequential",
                                         "random"]


def _smaps_range(addr: int, size: int) -> dict[str, int]:
    """Independent read of /proc/self/smaps: kB fields summed over the VMAs inside [addr, addr+size)."""
    out: dict[str, int] = {}
    inside = False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()[0]
            if "-" in head and ":" not in head:
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo < addr + size and hi > addr
                if inside:
                    out["vmas"] = out.get("vmas", 0) + 1
            elif inside and line.split()[-1] == "kB":
                k, v = line.split()[0].rstrip(":"), int(line.split()[1])
                out[k] = out.get(k, 0) + v * 1024
    return out


def test_backing_of_a_real_thp_region_and_a_4k_one():
    from memdive.kernel.thp import read_thp_mode

    size = 8 << 20
    with Buffer(size, "thp") as b:
        C.memset(b.addr, 1, size)
        got = b.backing()
        ref = _smaps_range(b.addr, size)
        assert ref["vmas"] == 1 and ref["Rss"] == size  # the guard pages keep the VMA exactly the buffer
        assert got.rss_bytes == ref["Rss"] and got.anon_huge_bytes == ref["AnonHugePages"]
        if read_thp_mode() in ("always", "madvise"):
            assert got.obtained == "thp" and got.anon_huge_bytes == size and got.huge_fraction == 1.0
    with Buffer(size, "4k") as b:
        C.memset(b.addr, 1, size // 2)
        got = b.backing()
        assert got.obtained == "4k" and got.rss_bytes == size // 2 and got.anon_huge_bytes == 0
        assert b.addr % (2 << 20) == 0


def test_buffer_rejects_bad_input():
    with pytest.raises(InvalidInput):
        Buffer(4096, "1g")
    with pytest.raises(InvalidInput):
        Buffer(0)


def test_summary_runs_every_part_with_tiny_settings(monkeypatch, tmp_path):
    import importlib

    from memdive.report.bench import plot, renderables

    sm = importlib.import_module("memdive.bench.summary")

    tiny = {"lat_reps": 1, "lat_loads": 1 << 14, "lat_octave": 1, "bw_reps": 1,
            "tlb_pages": [16, 64], "tlb_reps": 1, "tlb_loads": 1 << 12, "fs_incr": 10_000, "fs_reps": 1,
            "pf_elems": 1 << 12, "pf_reps": 1, "tr_sizes": (32,), "tr_reps": 1,
            "pat_n": 32, "pat_bytes": 1 << 16, "pat_elems": 1 << 10, "pat_reps": 1}
    monkeypatch.setitem(sm.PROFILES, True, tiny)
    s = sm.summary(quick=True, size=1 << 20)
    assert s.notes == ()
    for part in ("latency", "latency_huge", "bandwidth", "tlb", "false_sharing", "prefetch", "transpose", "patterns"):
        assert getattr(s, part) is not None, part
    assert s.latency.points[-1].size_bytes == 1 << 20 and s.bandwidth.array_bytes == 1 << 20
    assert s.latency_huge.backing.requested == "thp"
    assert renderables(s)
    plot(s, str(tmp_path / "s.png"))
    assert (tmp_path / "s.png").stat().st_size > 1000


def test_one_node_per_page_layout_uses_distinct_cache_sets():
    """1024 consecutive page-strided nodes land in 1024 distinct L2-sized set indexes (bits 6..15)."""
    n = 1024
    with Buffer(n * 4096) as b:
        assert lib.mdb_chase_build(b.addr, n, 4096, 7) == 0
        ptrs = np_view(b, np.uint64, n * 4096 // 8)
        nodes = {int(p) - b.addr for p in ptrs[ptrs != 0]}
        assert len(nodes) == n
        assert len({(a >> 6) & 1023 for a in nodes}) == n
        assert all(a // 4096 < n for a in nodes)


def test_single_thread_benchmarks_check_the_cpu():
    bad = max(os.sched_getaffinity(0)) + 1
    for fn, kw in ((bench.latency, {"sizes": [4096]}), (bench.transpose, {"sizes": (8,)}),
                   (bench.prefetch, {"elements": 1024}), (bench.tlb, {"page_counts": [16]})):
        with pytest.raises(InvalidInput, match=f"CPU {bad}"):
            fn(cpu=bad, **kw)
    with pytest.raises(InvalidInput, match="no working-set"):
        bench.latency([], repeats=1)
