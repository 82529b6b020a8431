"""The trace reader and analysis on a trace built byte by byte (format: native/shim/trace_format.h)."""

from __future__ import annotations

import struct

import pytest

from memdive.errors import ParseError
from memdive.trace import analyze, load
from memdive.trace import reader as R

FN = {name: i for i, name in enumerate(R.FUNCS) if name}


def header() -> bytes:
    h = struct.pack("<8sIIIIQQIIIIQ64s", b"MEMDIVET", R.VERSION, 4096, 42, 1, 1_700_000_000 * 10**9, 5, 4096, 0, 64,
                    0, 1 << 22, b"libc.so.6")
    return h.ljust(4096, b"\0")


def chunk(kind: int, body: bytes, ts: int = 1000, thread: int = 0, size: int = 4096) -> bytes:
    h = struct.pack("<IIQIIIIQ", R.CHUNK_MAGIC, kind, size, 42, 4242, thread, 0, ts).ljust(64, b"\0")
    return (h + body).ljust(size, b"\0")


def ev(dts: int, func: str, addr: int, size: int = 0, stack: int = 0, flags: int = 0) -> bytes:
    return struct.pack("<QQQ", dts | stack << 32, addr | FN[func] << 56, size | flags << 56)


def misc_stack(sid: int, frames: list[int]) -> bytes:
    return struct.pack("<QQ", R.MISC_STACK | (8 * len(frames)) << 8 | sid << 32, 7) + struct.pack(
        f"<{len(frames)}Q", *frames)


EVENTS = [
    ev(0, "malloc", 0x1000, 100, stack=1),
    ev(10, "malloc", 0x2000, 200, stack=2),
    ev(20, "free", 0x1000),
    ev(30, "malloc", 0x3000, 50, stack=1),
    ev(31, "free", 0x3000),                         # freed right away: temporary
    ev(40, "mmap", 0x100000, 8192, stack=3),
    ev(50, "munmap", 0x100000, 4096),               # half of it unmapped
    ev(60, "realloc(free)", 0x2000, 0, flags=1),    # realloc(p, 0)
]


def build(tmp_path, events=EVENTS, exit_record=True) -> bytes:
    data = header() + chunk(R.CHUNK_EVENTS, b"".join(events))
    data += chunk(R.CHUNK_MISC, misc_stack(1, [0x401000, 0x402000]) + misc_stack(2, [0x401100])
                  + misc_stack(3, [0x401200]))
    if exit_record:
        data += chunk(R.CHUNK_BLOB, struct.pack("<QQQQ", R.BLOB_EXIT, 8, 2000, 1))
    return data


def test_reads_events_stacks_and_exit(tmp_path):
    p = tmp_path / "t.trace"
    p.write_bytes(build(tmp_path))
    tr = load(p)
    assert tr.pid == 42 and tr.allocator == "libc.so.6" and tr.complete and not tr.truncated
    assert tr.events.size == 8
    assert tr.events["ts"].tolist() == [1000, 1010, 1020, 1030, 1031, 1040, 1050, 1060]
    assert tr.events["addr"][5] == 0x100000 and tr.events["size"][5] == 8192
    assert len(tr.stacks) == 3 and tr.stacks[1] == (0x401000, 0x402000) and 4 not in tr.stacks
    assert tr.stacks.first_frames([1, 2, 9]).tolist() == [0x401000, 0x401100, 0]


def test_analysis_pairs_frees_peak_temporary_mmap(tmp_path):
    p = tmp_path / "t.trace"
    p.write_bytes(build(tmp_path))
    r = analyze(load(p)).report
    assert r.calls == {"malloc": 3, "free": 2, "mmap": 1, "munmap": 1, "realloc(free)": 1, "realloc(p, 0)": 1}
    assert r.allocations == 3 and r.allocated_bytes == 350 and r.frees == 3
    assert r.peak_bytes == 300 and r.peak_time_seconds == pytest.approx(1010e-9)
    assert r.temporary == 1
    assert r.leaked_count == 0 and r.leaked_bytes == 0          # 0x2000 went with realloc(p, 0)
    assert r.mmap_peak_bytes == 8192
    leaked_map = [s for s in r.sites_by_leaked if s.mmap]
    assert [(s.stack_id, s.leaked_bytes) for s in leaked_map] == [(3, 4096)]   # the half still mapped
    assert r.mmap_leaked_bytes == 4096
    assert {s.stack_id: s.allocations for s in r.sites_by_count} == {1: 2, 2: 1}


def test_leak_without_exit_record(tmp_path):
    p = tmp_path / "t.trace"
    p.write_bytes(build(tmp_path, EVENTS[:2], exit_record=False))
    r = analyze(load(p)).report
    assert not r.complete and r.warnings
    assert r.leaked_count == 2 and r.leaked_bytes == 300
    assert {s.stack_id: s.leaked_bytes for s in r.sites_by_leaked} == {1: 100, 2: 200}


def test_truncated_tail_reads_whole_records(tmp_path):
    data = build(tmp_path)
    p = tmp_path / "cut.trace"
    p.write_bytes(data[: 4096 + 64 + 24 * 3 + 5])               # mid-record in the events chunk
    tr = load(p)
    assert tr.truncated and tr.events.size == 3 and not tr.complete


def test_bad_files(tmp_path):
    data = build(tmp_path)
    cases = {
        "foreign": (b"ELF" + data[3:], "not a memdive trace"),
        "newer": (data[:8] + struct.pack("<I", R.VERSION + 1) + data[12:], "newer"),
        "older": (data[:8] + struct.pack("<I", R.VERSION - 1) + data[12:], "older"),
        "chunk": (data[:4096] + b"\x01" * 64 + data[4160:], "corrupt chunk"),
        "event": (data[:4096 + 64 + 15] + b"\x7f" + data[4096 + 64 + 16:], "corrupt event"),
        "empty": (b"", "empty file"),
        "header": (data[:20], "truncated header"),
    }
    for name, (blob, msg) in cases.items():
        p = tmp_path / f"{name}.trace"
        p.write_bytes(blob)
        with pytest.raises(ParseError, match=msg):
            load(p)
