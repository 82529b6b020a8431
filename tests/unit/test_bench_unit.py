"""memdive bench, pure parts: sysfs/cpuinfo parsers on fixture trees, the plateau finder on
synthetic curves, Stats, and the renderers on hand-made records (no measurement here)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from memdive.bench.plateaus import find_plateaus, segments
from memdive.errors import ParseError
from memdive.kernel import cpu
from memdive.kernel import numa as knuma
from memdive.kernel.root import KernelRoot
from memdive.kernel.thp import read_thp_mode
from memdive.models.bench import (
    Backing,
    BandwidthResult,
    BandwidthRow,
    BenchEnv,
    BenchSummary,
    CacheLevel,
    LatencyPoint,
    LatencyResult,
    PrefetchResult,
    Stats,
)

FIX = Path(__file__).resolve().parents[1] / "fixtures"
ZEN4 = KernelRoot.at(str(FIX / "bench-zen4"))
NOCACHE = KernelRoot.at(str(FIX / "bench-nocache"))

K, M = 1 << 10, 1 << 20
CACHES = (CacheLevel(level=1, type="Data", size_bytes=32 * K), CacheLevel(level=2, type="Unified", size_bytes=512 * K),
          CacheLevel(level=3, type="Unified", size_bytes=32 * M))


# --- kernel.cpu ---------------------------------------------------------------------------------

def test_parse_size_and_cpu_list():
    assert cpu.parse_size("32K") == 32 * K
    assert cpu.parse_size("32768K\n") == 32 * M
    assert cpu.parse_size("1M") == M
    assert cpu.parse_size("4096") == 4096
    with pytest.raises(ParseError):
        cpu.parse_size("lots")
    assert knuma.parse_list("0-3,8,10-11\n") == (0, 1, 2, 3, 8, 10, 11)
    assert knuma.parse_list("") == ()
    with pytest.raises(ParseError):
        knuma.parse_list("0-x")


def test_read_caches_fixture_zen4():
    cs = cpu.read_caches(0, ZEN4)
    assert [(c.level, c.type, c.size_bytes) for c in cs] == [
        (1, "Data", 32 * K), (1, "Instruction", 32 * K), (2, "Unified", 512 * K), (3, "Unified", 32 * M)]
    assert cs[-1].shared_cpus == (0, 1)
    assert cs[0].line_bytes == 64 and cs[0].ways == 8 and cs[0].sets == 64
    data = cpu.data_caches(cs)
    assert [c.level for c in data] == [1, 2, 3] and data[0].type == "Data"


def test_read_caches_entry_without_size_is_skipped_and_missing_dir_raises():
    assert cpu.read_caches(0, NOCACHE) == []
    from memdive.errors import KernelFeatureMissing

    with pytest.raises(KernelFeatureMissing):
        cpu.read_caches(7, ZEN4)


def test_parse_cache_index_requires_level_and_size():
    with pytest.raises(ParseError):
        cpu.parse_cache_index({"type": b"Data\n"})


def test_cpuinfo_fixture():
    info = cpu.read_cpuinfo(ZEN4)
    assert info.model == "AMD EPYC" and info.vendor == "AuthenticAMD"
    assert info.count == 2
    assert info.invariant_tsc
    assert info.mhz and info.mhz > 100
    arm = cpu.read_cpuinfo(NOCACHE)
    assert arm.model == "ARMv8 Processor" and arm.flags == ("fp", "asimd") and not arm.invariant_tsc
    with pytest.raises(ParseError):
        cpu.parse_cpuinfo(b"\n\n")


def test_thp_mode_fixture_and_absent():
    assert read_thp_mode(ZEN4) == "madvise"
    assert read_thp_mode(NOCACHE) is None


# --- plateau finder -----------------------------------------------------------------------------

def _curve(noise: float = 0.0, seed: int = 1, top: int = 256 * M):
    """A Zen 4-like curve: L1 1.2 ns to 32K, L2 3.8 ns to 256K (ramp at 512K), L3 ~15 ns 1M..4M, DRAM."""
    rnd = random.Random(seed)
    pts = []
    s = 4 * K
    while s <= top:
        if s <= 32 * K:
            v = 1.2
        elif s <= 256 * K:
            v = 3.8 if s > 64 * K else 2.6
        elif s <= 512 * K:
            v = 7.5
        elif s <= 4 * M:
            v = {1 * M: 13.0, 2 * M: 15.0, 4 * M: 17.0}[s]
        elif s <= 8 * M:
            v = 45.0
        elif s <= 16 * M:
            v = 95.0
        else:
            v = {32 * M: 130.0, 64 * M: 150.0, 128 * M: 168.0, 256 * M: 185.0}[s]
        pts.append((s, v * (1 + rnd.uniform(-noise, noise))))
        s *= 2
    return [p[0] for p in pts], [p[1] for p in pts]


def test_plateaus_clean_curve_names_levels_and_sysfs_sizes():
    sizes, ns = _curve()
    lv = find_plateaus(sizes, ns, CACHES)
    assert [x.name for x in lv] == ["L1", "L2", "L3", "DRAM"]
    assert (lv[0].first_bytes, lv[0].last_bytes) == (4 * K, 32 * K)
    assert (lv[1].first_bytes, lv[1].last_bytes) == (128 * K, 256 * K)
    assert (lv[2].first_bytes, lv[2].last_bytes) == (1 * M, 4 * M)
    assert lv[3].first_bytes == 32 * M and lv[3].last_bytes == 256 * M
    assert lv[0].ns_per_load == pytest.approx(1.2) and lv[2].ns_per_load == pytest.approx(15.0)
    assert [x.sysfs_bytes for x in lv] == [32 * K, 512 * K, 32 * M, None]


@pytest.mark.parametrize("seed", range(5))
def test_plateaus_survive_5_percent_noise(seed):
    sizes, ns = _curve(noise=0.05, seed=seed)
    lv = find_plateaus(sizes, ns, CACHES)
    assert [x.name for x in lv] == ["L1", "L2", "L3", "DRAM"]
    assert lv[0].last_bytes == 32 * K and lv[2].last_bytes == 4 * M


def test_plateaus_order_independent_and_without_dram():
    sizes, ns = _curve(top=8 * M)
    lv = find_plateaus(list(reversed(sizes)), list(reversed(ns)), CACHES)
    assert [x.name for x in lv] == ["L1", "L2", "L3"]  # the curve stops short of 2x the LLC: no DRAM claim


def test_plateaus_flat_and_degenerate():
    assert [x.name for x in find_plateaus([4096 << i for i in range(6)], [1.0] * 6, CACHES)] == ["L1"]
    assert find_plateaus([], [], CACHES) == []
    assert find_plateaus([4096, 8192, 16384], [1.0, 10.0, 100.0], CACHES) == []  # only ramps
    assert segments([1, 1.1, 5, 5.2, 5.1]) == [[0, 1], [2, 3, 4]]
    lv = find_plateaus([4096 << i for i in range(6)], [1, 1, 1, 9, 9, 9])  # no sysfs: named by order
    assert [x.name for x in lv] == ["level1", "level2"]
    with pytest.raises(ValueError):
        find_plateaus([1, 2], [1.0])


# --- records and renderers ------------------------------------------------------------------------

def test_stats():
    s = Stats.of([3.0, 1.0, 2.0, 10.0])
    assert (s.min, s.median, s.max, s.n) == (1.0, 2.5, 10.0, 4)
    r = s.map(lambda t: 100 / t)  # time -> rate swaps the ends
    assert (r.min, r.median, r.max) == (10.0, 40.0, 100.0)
    assert s.spread == pytest.approx(9 / 2.5)
    with pytest.raises(ValueError):
        Stats.of([])


def test_backing_fraction():
    b = Backing(requested="thp", obtained="partly-thp", size_bytes=8 * M, rss_bytes=8 * M, anon_huge_bytes=6 * M)
    assert b.huge_fraction == 0.75
    assert Backing(requested="4k", obtained="unknown", size_bytes=1).huge_fraction is None


def _env():
    return BenchEnv(cpu_model="Test CPU", cpus=(0, 1), pinned=True, repeats=3, warmup=1, thp_mode="madvise",
                    kernel="6.18", tsc_hz=2.4e9, caches=CACHES)


def test_renderers_and_json_on_synthetic_records(tmp_path):
    from memdive.report import bench as rb
    from memdive.report.jsonout import dumps
    from memdive.report.tables import console

    sizes, ns = _curve()
    pts = tuple(LatencyPoint(size_bytes=s, ns_per_load=Stats.of([v, v * 1.01, v * 1.1]), cycles_per_load=v * 2.4)
                for s, v in zip(sizes, ns))
    bk = Backing(requested="4k", obtained="4k", size_bytes=256 * M, rss_bytes=256 * M, anon_huge_bytes=0)
    lat = LatencyResult(env=_env(), backing=bk, stride_bytes=64, points=pts,
                        levels=tuple(find_plateaus(sizes, ns, CACHES)))
    rows = tuple(BandwidthRow(kernel=k, threads=t, bytes_per_pass=24 * M, seconds=Stats.of([0.01, 0.011]),
                              gb_per_second=Stats.of([24 * M / 0.011 / 1e9, 24 * M / 0.01 / 1e9]))
                 for k in ("read", "triad") for t in (1, 2))
    bw = BandwidthResult(env=_env(), backing=bk, array_bytes=128 * M, nontemporal=False, validated=True,
                         max_rel_error=0.0, rows=rows)
    s = BenchSummary(env=_env(), quick=True, seconds=12.0, latency=lat, bandwidth=bw, notes=("tlb: no pool",))
    out = tmp_path / "out.txt"
    with open(out, "w") as f:
        c = console(file=f)
        for r in (lat, bw, s):
            for x in rb.renderables(r):
                c.print(x)
    text = out.read_text()
    assert "L3" in text and "vs sysfs" in text and "note: tlb: no pool" in text and "triad, 2 threads" in text
    assert "pages asked 4k, got 4k" in text
    pf = rb.renderables(PrefetchResult(env=_env(), backing=bk, elements=8, validated=True, rows=()))
    with open(out, "w") as f:
        console(file=f).print(*pf)
    assert "a[i] = a[i]*2+1" in out.read_text()
    d = json.loads(dumps(s))
    assert d["latency"]["levels"][0]["name"] == "L1"
    assert d["latency"]["points"][0]["ns_per_load"]["median"] == pytest.approx(1.2 * 1.01)
    assert d["bandwidth"]["rows"][0]["gb_per_second"]["max"] == pytest.approx(24 * M / 0.01 / 1e9)
    for ext in ("png", "svg"):
        p = tmp_path / f"plot.{ext}"
        rb.plot(s, str(p))
        assert p.stat().st_size > 1000
    assert rb.size(4096) == "4K" and rb.size(6144) == "6K" and rb.size(3 * M // 2) == "1.5M" and rb.size(100) == "100B"


def test_extra_plateau_between_llc_and_dram_is_named_for_it():
    sizes = [4096 << i for i in range(16)]  # 4K .. 128M
    ns = [1.2] * 4 + [3.8] * 3 + [8.0] + [15.0] * 3 + [27.0, 27.5] + [150.0, 152.0, 155.0]
    lv = find_plateaus(sizes, ns, CACHES[:2] + (CacheLevel(level=3, type="Unified", size_bytes=8 * M),))
    assert [x.name for x in lv] == ["L1", "L2", "L3", "L3..DRAM", "DRAM"]
    assert lv[3].sysfs_bytes is None and (lv[3].first_bytes, lv[3].last_bytes) == (8 * M, 16 * M)


def test_bandwidth_arrays_placed_as_glibc_places_large_arrays():
    from memdive.bench.bandwidth import ARRAY_GAP, array_stride

    assert ARRAY_GAP == 8 << 10
    for size, want in (((512 << 20), (512 << 20) + (8 << 10)), (100_003 * 8, 802_816 + (8 << 10)),
                       (1 << 20, (1 << 20) + (8 << 10)), (4096 - 8, 4096 + (8 << 10))):
        assert array_stride(size) == want
