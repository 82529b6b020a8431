"""Arena: first fit with splitting and coalescing, fragmentation statistics (no processes)."""

from __future__ import annotations

import random

import pytest

from memdive.alloc import Arena
from memdive.alloc.arena import ArenaError, ArenaFull
from memdive.errors import InvalidInput


def test_split_then_coalesce_both_neighbours():
    ar = Arena(bytearray(4096))
    a, b, c = ar.alloc(100), ar.alloc(200), ar.alloc(300)
    offs = [ar.offset_of(x) for x in (a, b, c)]
    assert offs == [0, 112, 320]                                   # 16-byte granule, packed from the start
    assert ar.blocks()[-1] == (624, 4096 - 624, False)             # the tail was split off, still free
    ar.free(a)
    ar.free(c)                                                     # c merges with the free tail
    assert ar.blocks() == [(0, 112, False), (112, 208, True), (320, 4096 - 320, False)]
    s = ar.stats()
    assert s.free_blocks == 2 and s.coalesces == 1
    ar.free(b)                                                     # merges with both neighbours
    assert ar.blocks() == [(0, 4096, False)]
    s = ar.stats()
    assert s.coalesces == 3 and s.free_blocks == 1 and s.fragmentation == 0.0 and s.used_bytes == 0
    assert s.total_allocs == 3 and s.total_frees == 3 and s.peak_used_bytes == 624


def test_first_fit_reuses_the_lowest_hole_and_splits_it():
    ar = Arena(bytearray(1 << 16))
    blocks = [ar.alloc_offset(256) for _ in range(8)]
    ar.free_offset(blocks[1])
    ar.free_offset(blocks[5])
    off = ar.alloc_offset(64)
    assert off == blocks[1]                                        # the first hole that fits
    assert (blocks[1] + 64, 192, False) in ar.blocks()             # and the rest of it stays free


def test_fragmentation_refusal_is_counted_and_explained():
    ar = Arena(bytearray(1024))
    offs = [ar.alloc_offset(128) for _ in range(8)]
    for o in offs[::2]:
        ar.free_offset(o)                                          # 4 holes of 128: 512 free, none > 128
    s = ar.stats()
    assert s.free_bytes == 512 and s.largest_free_bytes == 128
    assert s.fragmentation == pytest.approx(0.75)
    with pytest.raises(ArenaFull, match="fragmented"):
        ar.alloc(256)
    with pytest.raises(ArenaFull, match="arena full"):
        ar.alloc(1024)
    s = ar.stats()
    assert s.failed_allocs == 2 and s.failed_fragmented == 1


def test_double_free_and_foreign_pointer_refused():
    ar = Arena(bytearray(4096))
    mv = ar.alloc(64)
    ar.free(mv)
    with pytest.raises(ArenaError, match="double free"):
        ar.free(mv)
    with pytest.raises(ArenaError, match="not an allocation"):
        ar.free(memoryview(bytearray(64)))
    with pytest.raises(ArenaError):
        ar.free_offset(8)
    with pytest.raises(InvalidInput):
        ar.alloc(0)


def test_alignment_keeps_the_padding_free():
    ar = Arena(bytearray(1 << 16))
    ar.alloc(16)
    off = ar.alloc_offset(100, align=4096)
    assert (ar.address + off) % 4096 == 0
    assert any(not used and o == 16 for o, _, used in ar.blocks())   # the padding before it is a free block


def test_random_workload_keeps_the_invariants():
    rnd = random.Random(8)
    ar = Arena(bytearray(1 << 18))
    live: dict[int, int] = {}
    for _ in range(20000):
        if live and (rnd.random() < 0.45 or len(live) > 300):
            off = rnd.choice(list(live))
            ar.free_offset(off)
            del live[off]
        else:
            n = rnd.randint(1, 3000)
            try:
                off = ar.alloc_offset(n, align=rnd.choice((16, 64, 256)))
            except ArenaFull:
                continue
            live[off] = n
    blocks = ar.blocks()
    # Blocks tile the arena exactly, no two free blocks are adjacent (coalescing is complete).
    pos = 0
    for i, (off, size, used) in enumerate(blocks):
        assert off == pos
        pos += size
        if i and not used:
            assert blocks[i - 1][2], "two free blocks side by side: not coalesced"
    assert pos == ar.capacity
    assert {o for o, _, u in blocks if u} == set(live)
    for off in list(live):
        ar.free_offset(off)
    assert ar.blocks() == [(0, ar.capacity, False)]


def test_memoryviews_write_into_the_arena_buffer():
    backing = bytearray(4096)
    ar = Arena(backing)
    mv = ar.alloc(5)
    mv[:] = b"hello"
    assert bytes(backing[ar.offset_of(mv):ar.offset_of(mv) + 5]) == b"hello"
