"""wss by the idle page bitmap on a constructed fixture tree: pagemap entries (present pages and their
PFNs), kpageflags (a THP: head and tails), and /sys/kernel/mm/page_idle/bitmap as a regular file. The
test plays the kernel between IdleTracker.mark() and .collect() by clearing idle bits in the file."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from memdive.errors import InvalidInput, KernelFeatureMissing
from memdive.kernel import kpage as kp
from memdive.kernel.root import KernelRoot
from memdive.pages import wss

PID = 4242
PAGE = os.sysconf("SC_PAGE_SIZE")
A, B = 0x10000000, 0x20000000                  # region A: 16 pages; region B: 1024 pages, a THP at its start
A_PFNS = {0: 100, 1: 101, 2: 102, 3: 165, 5: 170, 8: 300}      # page index in A -> PFN
THP = 0x8000                                   # PFNs THP .. THP+511 back B's first 512 pages
PRESENT = 1 << 63
LRU, HEAD, TAIL, KTHP = 1 << 5, 1 << 15, 1 << 16, 1 << 22


def _entry(pfn: int) -> bytes:
    return struct.pack("<Q", PRESENT | pfn)


def _write_pagemap(path, pages: dict[int, int]) -> None:
    """pages: virtual address -> PFN (a sparse file: holes read as not present)."""
    with open(path, "wb") as f:
        f.truncate((B + 1024 * PAGE) // PAGE * 8)
        for addr, pfn in pages.items():
            f.seek(addr // PAGE * 8)
            f.write(_entry(pfn))


@pytest.fixture
def tree(tmp_path):
    proc, sysd = tmp_path / "proc", tmp_path / "sys"
    (proc / str(PID)).mkdir(parents=True)
    (proc / str(PID) / "maps").write_text(
        f"{A:08x}-{A + 16 * PAGE:08x} rw-p 00000000 00:00 0 \n"
        f"{B:08x}-{B + 1024 * PAGE:08x} rw-p 00000000 00:00 0 \n")
    pages = {A + i * PAGE: pfn for i, pfn in A_PFNS.items()}
    pages.update({B + i * PAGE: THP + i for i in range(512)})
    _write_pagemap(proc / str(PID) / "pagemap", pages)
    with open(proc / "kpageflags", "wb") as f:
        f.truncate((THP + 1024) * 8)
        for pfn in A_PFNS.values():
            f.seek(pfn * 8)
            f.write(struct.pack("<Q", LRU))
        f.seek(THP * 8)
        f.write(struct.pack("<Q", LRU | HEAD | KTHP) + struct.pack("<Q", TAIL | KTHP) * 511)
    bitmap = sysd / "kernel" / "mm" / "page_idle" / "bitmap"
    bitmap.parent.mkdir(parents=True)
    bitmap.write_bytes(b"\0" * ((THP + 1024) // 64 * 8))
    return KernelRoot.at(str(tmp_path)), tmp_path, pages, bitmap


def _words(bitmap) -> dict[int, int]:
    data = bitmap.read_bytes()
    vals = np.frombuffer(data, dtype="=u8")
    return {int(i): int(vals[i]) for i in np.flatnonzero(vals)}


def _clear_bit(bitmap, pfn: int) -> None:
    """What the kernel does when the page is accessed: its idle bit goes to 0."""
    with open(bitmap, "r+b") as f:
        f.seek(pfn // 64 * 8)
        (w,) = struct.unpack("=Q", f.read(8))
        f.seek(pfn // 64 * 8)
        f.write(struct.pack("=Q", w & ~(1 << (pfn % 64))))


def test_bit_arithmetic_words_and_spans():
    # PFN i is bit i % 64 of word i // 64; one word holds several PFNs; repeats are harmless
    words, masks = kp.idle_words(np.array([101, 100, 165, 63, 64, 100, 4096], dtype=np.uint64))
    assert words.tolist() == [0, 1, 2, 64]
    assert masks.tolist() == [1 << 63, (1 << 0) | (1 << 36) | (1 << 37), 1 << 37, 1]
    # reads and writes: whole 8-byte words at offsets that are multiples of 8, consecutive words merged
    spans = kp.idle_spans(np.array([3, 4, 5, 9, 10, 40], dtype=np.uint64))
    assert spans == [(24, 0, 3), (72, 3, 5), (320, 5, 6)]
    assert kp.idle_spans(np.array([3, 4, 5, 9, 10, 40], dtype=np.uint64), gap=8) == [(24, 0, 5), (320, 5, 6)]
    # the bit of each PFN in words read back
    vals = np.array([1 << 63, 1 << 36, 0, 1], dtype="=u8")
    assert kp.idle_bits(np.array([63, 100, 101, 130, 4096], dtype=np.uint64), words, vals).tolist() == [
        True, True, False, False, True]
    with pytest.raises(IndexError):
        kp.idle_bits(np.array([5000], dtype=np.uint64), words, vals)


def test_write_and_read_whole_words(tmp_path, monkeypatch):
    path = tmp_path / "bitmap"
    path.write_bytes(b"\xff" * 8 + b"\0" * 8 * 15)
    calls = []
    real = os.pwrite

    def recording_pwrite(fd, data, off):
        calls.append((off, len(data)))
        return real(fd, data, off)

    monkeypatch.setattr(os, "pwrite", recording_pwrite)
    fd = os.open(path, os.O_RDWR)
    try:
        words, masks = kp.idle_words(np.array([70, 71, 130, 900], dtype=np.uint64))
        kp.write_idle(fd, words, masks)
        assert calls == [(8, 16), (112, 8)]                      # words 1-2 together, word 14 alone
        assert all(off % 8 == 0 and n % 8 == 0 for off, n in calls)
        got = kp.read_idle(fd, words)
        assert got.tolist() == [(1 << 6) | (1 << 7), 1 << 2, 1 << 4]
        # a word beyond the end of a (fixture) file reads as 0 (not idle), never garbage
        assert kp.read_idle(fd, np.array([1, 500], dtype=np.uint64)).tolist() == [(1 << 6) | (1 << 7), 0]
    finally:
        os.close(fd)
    assert path.read_bytes()[:8] == b"\xff" * 8                  # word 0 untouched


def test_thp_tails_resolve_to_their_head(tree):
    root, *_ = tree
    fd = kp.open_files(root, ("kpageflags",))["kpageflags"]
    try:
        # a THP mapped whole (consecutive PFNs from its head), and tails seen alone (mapped from the middle)
        whole = np.concatenate(([100], THP + np.arange(512), [101])).astype(np.uint64)
        assert kp.head_pfns(whole, fd).tolist() == [100] + [THP] * 512 + [101]
        p = np.array([100, THP + 300, THP, THP + 1, THP + 511, THP + 2], dtype=np.uint64)
        assert kp.head_pfns(p, fd).tolist() == [100, THP, THP, THP, THP, THP]
    finally:
        os.close(fd)


def test_mark_then_collect_per_region(tree):
    root, base, pages, bitmap = tree
    with wss.IdleTracker(PID, root) as tr:
        assert tr.mark() == len(A_PFNS) + 512
        # only the target's (head) PFNs were set, in whole words; the THP's tails carry no bit
        assert _words(bitmap) == {1: (1 << 36) | (1 << 37) | (1 << 38), 2: (1 << 37) | (1 << 42), 4: 1 << 44,
                                  THP // 64: 1}
        # the "kernel": pages at PFN 101 and the THP were accessed during the interval
        _clear_bit(bitmap, 101)
        _clear_bit(bitmap, THP)
        # and A's page 10 was faulted in (new), page 8 unmapped, page 5 moved to another PFN
        moved = dict(pages)
        moved[A + 10 * PAGE] = 400
        del moved[A + 8 * PAGE]
        moved[A + 5 * PAGE] = 171
        _write_pagemap(base / "proc" / str(PID) / "pagemap", moved)
        maps, counts = tr.collect()
    assert [(m.start, m.end) for m in maps] == [(A, A + 16 * PAGE), (B, B + 1024 * PAGE)]
    # A: present now 0,1,2,3,5,10; accessed: 1 (bit cleared), 5 (new PFN), 10 (new); B: the whole THP
    assert counts == [(6, 3, 0), (512, 512, 0)]


def test_a_closed_tracker_refuses_to_read(tree, tmp_path, monkeypatch):
    """After close() its descriptors may already name other files, and its PID directory is gone:
    it must refuse, not read ./maps of the current directory."""
    root = tree[0]
    (tmp_path / "maps").write_text("00400000-00401000 r-xp 00000000 00:00 0 decoy\n")
    monkeypatch.chdir(tmp_path)
    tr = wss.IdleTracker(PID, root)
    tr.mark()
    tr.close()
    for call in (tr.mark, tr.collect):
        with pytest.raises(InvalidInput, match="after close"):
            call()


def test_untouched_pages_stay_idle_and_a_second_interval(tree):
    root, _, _, bitmap = tree
    with wss.IdleTracker(PID, root) as tr:
        tr.mark()
        assert tr.collect()[1] == [(6, 0, 0), (512, 0, 0)]
        tr.mark()
        _clear_bit(bitmap, 165)
        assert tr.collect()[1] == [(6, 1, 0), (512, 0, 0)]


def test_account_untracked_pages():
    """A page whose bit did not read back after marking (the kernel ignores non-LRU pages) is untracked,
    neither accessed nor idle."""
    vpn0 = np.array([10, 11, 12, 13], dtype=np.int64)
    pfn0 = np.array([5, 6, 7, 8], dtype=np.uint64)
    tracked = np.array([True, False, True, True])
    idle = np.array([False, False, True, True])        # page 10 accessed, 11 untracked, 12-13 idle
    vpn = np.array([10, 11, 12, 13, 20], dtype=np.int64)
    pfn = np.array([5, 6, 7, 8, 9], dtype=np.uint64)
    reg = np.array([0, 0, 1, 1, 1], dtype=np.int32)
    assert wss.account(vpn0, pfn0, tracked, idle, vpn, pfn, reg, 3) == [(2, 1, 1), (3, 1, 0), (0, 0, 0)]


def test_sample_idle_method_on_fixture(tree):
    root, _, _, bitmap = tree
    s = next(wss.sample(PID, interval=0.01, count=1, method="idle", root=root))
    assert s.method == "idle" and s.untracked_bytes == 0
    assert s.rss_bytes == (len(A_PFNS) + 512) * PAGE
    assert s.accessed_bytes == 0                       # nothing cleared a bit in the fixture
    assert [r.rss_bytes for r in s.regions] == [len(A_PFNS) * PAGE, 512 * PAGE]
    assert _words(bitmap)[THP // 64] == 1              # marked again for the next interval


def test_method_choice_and_absent_bitmap(tree, tmp_path):
    root, *_ = tree
    assert wss.choose_method("idle", root) == "idle"
    assert wss.choose_method("referenced", root) == "referenced"
    assert wss.choose_method("auto", root) == ("idle" if os.geteuid() == 0 else "referenced")
    bare = KernelRoot.at(str(tmp_path / "nothing"))
    assert wss.choose_method("auto", bare) == "referenced"
    with pytest.raises(KernelFeatureMissing, match=r"idle page tracking: unavailable on this kernel "
                                                   r"\(CONFIG_IDLE_PAGE_TRACKING\)"):
        wss.choose_method("idle", bare)
    with pytest.raises(KernelFeatureMissing, match="CONFIG_IDLE_PAGE_TRACKING"):
        kp.open_idle_bitmap(bare)
    method, error = wss.method_text("idle")
    assert "idle page bitmap" in method and "any mapping" in error and "untracked" in error
