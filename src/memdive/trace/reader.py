"""Reading a trace file written by the shim (format: native/shim/trace_format.h).

The file is read whole through mmap; event chunks become one numpy structured array. A file that
ends mid-chunk (the traced process was killed, or the disk filled) reads up to its last whole record.
"""

from __future__ import annotations

import mmap
import os
import struct
from array import array
from dataclasses import dataclass, field

import numpy as np

from ..errors import AccessDenied, MemdiveError, ParseError, check_input_file

MAGIC = b"MEMDIVET"
VERSION = 2                       # trace_format.h MDT_VERSION
HEADER_SIZE = 4096
CHUNK_MAGIC = 0x4B43444D
CHUNK_HEADER = 64
CHUNK_EVENTS, CHUNK_MISC, CHUNK_BLOB = 1, 2, 3
MISC_STACK, MISC_THREAD, MISC_RSS = 1, 2, 3
BLOB_MAPS, BLOB_CMDLINE, BLOB_EXE, BLOB_MALLINFO2, BLOB_MALLOC_INFO, BLOB_PAGEMAP, BLOB_EXIT = 1, 2, 3, 4, 5, 6, 7
REASONS = {1: "exit", 2: "signal", 3: "peak", 4: "start"}
F_UNWIND_FP, F_FOLLOW_FORK, F_CHILD = 1, 2, 4

FUNCS = ["", "malloc", "calloc", "realloc", "realloc(free)", "reallocarray", "reallocarray(free)", "free",
         "posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc", "mmap", "munmap", "mremap",
         "mremap(free)"]
ALLOC_FUNCS = (1, 2, 3, 5, 8, 9, 10, 11, 12)
FREE_FUNCS = (4, 6, 7)
MAP_FUNCS = (13, 15)
UNMAP_FUNCS = (14, 16)

# in memory (what analysis uses): one record per event, time in ns since the start
EVENT = np.dtype([("ts", "<u8"), ("addr", "<u8"), ("size", "<u8"), ("stack", "<u4"), ("func", "u1"),
                  ("flags", "u1"), ("thread", "<u2")])
# on disk: 24 bytes (trace_format.h struct mdt_event)
RAW_EVENT = np.dtype([("w0", "<u8"), ("w1", "<u8"), ("w2", "<u8")])
LOW56 = (1 << 56) - 1
_HDR = struct.Struct("<8sIIIIQQIIIIQ64s")
_CHUNK = struct.Struct("<IIQIIIIQ")


class StackTable:
    """Stack id -> return addresses (innermost first). Numpy arrays, no per-stack Python objects: a
    million stacks of 20+ frames take ~200 MB, not gigabytes."""

    def __init__(self) -> None:
        self.ids = np.zeros(0, np.uint32)          # sorted
        self.offsets = np.zeros(1, np.int64)       # frames of ids[i]: frames[offsets[i]:offsets[i+1]]
        self.frames = np.zeros(0, np.uint64)

    def __len__(self) -> int:
        return int(self.ids.size)

    def _index(self, sid: int) -> int:
        i = int(np.searchsorted(self.ids, sid))
        return i if i < self.ids.size and int(self.ids[i]) == sid else -1

    def __contains__(self, sid: object) -> bool:
        return isinstance(sid, (int, np.integer)) and self._index(int(sid)) >= 0

    def get(self, sid: int, default=None):
        i = self._index(int(sid))
        if i < 0:
            return default
        return tuple(self.frames[self.offsets[i]: self.offsets[i + 1]].tolist())

    def __getitem__(self, sid: int) -> tuple[int, ...]:
        v = self.get(sid)
        if v is None:
            raise KeyError(sid)
        return v

    def items(self):
        for sid in self.ids.tolist():
            yield sid, self[sid]

    def first_frames(self, sids: np.ndarray) -> np.ndarray:
        """Innermost return address of each stack id in SIDS (0 where unknown or empty)."""
        sids = np.asarray(sids, np.uint32)
        out = np.zeros(sids.size, np.uint64)
        if not self.ids.size or not sids.size:
            return out
        i = np.minimum(np.searchsorted(self.ids, sids), self.ids.size - 1)
        ok = (self.ids[i] == sids) & (self.offsets[i + 1] > self.offsets[i])
        out[ok] = self.frames[self.offsets[i[ok]]]
        return out


@dataclass
class Snapshot:
    """A pagemap snapshot: resident pages of the heap and anonymous mappings at time ts_ns."""
    reason: str
    ts_ns: int
    live_usable_bytes: int
    ranges: np.ndarray            # (n, 2) uint64 start, end
    bits: list[np.ndarray]        # per range: bool per page


@dataclass
class Trace:
    path: str
    pid: int
    ppid: int
    start_realtime_ns: int
    page_size: int
    flags: int
    max_frames: int
    allocator: str
    events: np.ndarray            # EVENT records, sorted by time
    stacks: StackTable
    threads: dict[int, tuple[int, str]]          # shim thread index -> (tid, name)
    maps: list[tuple[int, bytes]] = field(default_factory=list)        # (ts_ns, /proc/self/maps text)
    cmdline: list[str] = field(default_factory=list)
    exe: str = ""
    mallinfo: list[tuple[int, tuple[int, ...], int]] = field(default_factory=list)  # (ts, 10 fields, reason)
    malloc_info: list[tuple[int, bytes]] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    rss: list[tuple[int, int, int]] = field(default_factory=list)     # (ts_ns, resident, file+shmem)
    complete: bool = False
    truncated: bool = False
    end_ns: int = 0


def _bad(path: str, msg: str) -> ParseError:
    return ParseError(f"{path}: {msg}", path=path, hint="the file is not a complete memdive trace")


def load(path: str | os.PathLike) -> Trace:
    """Read a trace file. Raises MemdiveError if unreadable, ParseError for a foreign, newer or corrupt file."""
    path = os.fspath(path)
    check_input_file(path, "a trace")
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                raise _bad(path, "empty file (the traced program never started the shim?)")
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except PermissionError:
        raise AccessDenied(f"permission denied reading {path}", path=path,
                           hint="run as a user who may read it (or root)") from None
    except OSError as e:
        raise MemdiveError(f"cannot open trace {path}: {e.strerror}", path=path) from None
    try:
        return _parse(path, data)
    finally:
        try:
            data.close()
        except BufferError:  # numpy views still alive: the mapping goes with them
            pass


def _parse(path: str, data) -> Trace:
    n = len(data)
    if n < _HDR.size or data[:8] != MAGIC:
        if data[:8] == MAGIC:
            raise _bad(path, "truncated header")
        raise ParseError(f"{path} is not a memdive trace (bad magic)", path=path,
                           hint="record one with: memdive trace -o FILE -- CMD")
    (_, version, header_size, pid, ppid, rt_ns, _mono, page_size, flags, max_frames, _r, _slots,
     alloc) = _HDR.unpack_from(data, 0)
    if version > VERSION:
        raise ParseError(f"{path}: trace format version {version} is newer than this memdive reads ({VERSION})",
                         path=path, hint="upgrade memdive")
    if version < VERSION:
        raise ParseError(f"{path}: trace format version {version} is older than this memdive reads ({VERSION})",
                         path=path, hint="record the program again")
    if version < 1 or header_size != HEADER_SIZE:
        raise _bad(path, f"bad header (version {version}, header size {header_size})")
    tr = Trace(path=path, pid=pid, ppid=ppid, start_realtime_ns=rt_ns, page_size=page_size or 4096, flags=flags,
               max_frames=max_frames, allocator=alloc.split(b"\0", 1)[0].decode(errors="replace"),
               events=np.zeros(0, EVENT), stacks=StackTable(), threads={})
    ev_parts: list[np.ndarray] = []
    st_ids = array("Q")          # stack records: id, first frame as a word index into the file, frame count
    st_word = array("Q")
    st_len = array("Q")
    off = HEADER_SIZE
    while off + CHUNK_HEADER <= n:
        magic, kind, csize, _cpid, _tid, thread, _r2, ts = _CHUNK.unpack_from(data, off)
        if magic != CHUNK_MAGIC:
            if magic == 0 and not any(data[off:off + CHUNK_HEADER]):
                # claimed but never started (killed between the claim and its header): the end
                tr.truncated = True
                break
            raise _bad(path, f"corrupt chunk at offset {off} (bad magic)")
        if csize < CHUNK_HEADER + 8 or csize % 4096 or kind not in (1, 2, 3):
            raise _bad(path, f"corrupt chunk at offset {off} (kind {kind}, size {csize})")
        end = off + csize
        if end > n:
            tr.truncated = True
            end = n
        tr.end_ns = max(tr.end_ns, ts)
        body = off + CHUNK_HEADER
        if kind == CHUNK_EVENTS:
            cnt = (end - body) // RAW_EVENT.itemsize
            raw = np.frombuffer(data, dtype=RAW_EVENT, count=cnt, offset=body)
            func = (raw["w1"] >> np.uint64(56)).astype(np.uint8)
            zero = np.flatnonzero(func == 0)
            k = int(zero[0]) if zero.size else cnt
            if k:
                if (func[:k] >= len(FUNCS)).any():
                    raise _bad(path, f"corrupt event in chunk at offset {off}")
                arr = np.empty(k, EVENT)
                w0 = raw["w0"][:k]
                arr["ts"] = (w0 & np.uint64(0xFFFFFFFF)) + np.uint64(ts)
                arr["stack"] = (w0 >> np.uint64(32)).astype(np.uint32)
                arr["addr"] = raw["w1"][:k] & np.uint64(LOW56)
                arr["func"] = func[:k]
                w2 = raw["w2"][:k]
                arr["size"] = w2 & np.uint64(LOW56)
                arr["flags"] = (w2 >> np.uint64(56)).astype(np.uint8)
                arr["thread"] = thread & 0xFFFF
                ev_parts.append(arr)
            del raw, func
            _drop(data, off, end)   # copied out: let the file's pages leave our RSS
        elif kind == CHUNK_MISC:
            _misc(tr, data, body, end, st_ids, st_word, st_len)
        else:
            _blob(tr, data, body, end, path, off)
        off += csize
    if st_ids:
        words = np.frombuffer(data, dtype="<u8", count=n // 8)
        ids = np.frombuffer(st_ids, np.uint64).astype(np.uint32)
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        keep = np.ones(ids.size, bool)
        keep[1:] = ids[1:] != ids[:-1]            # a stack written twice (table full, races): keep one
        order, ids = order[keep], ids[keep]
        word = np.frombuffer(st_word, np.uint64).astype(np.int64)[order]
        lens = np.frombuffer(st_len, np.uint64).astype(np.int64)[order]
        offsets = np.zeros(lens.size + 1, np.int64)
        np.cumsum(lens, out=offsets[1:])
        frames = np.empty(int(offsets[-1]), np.uint64)
        step = 1 << 16                            # gather in batches: bounded temporaries
        for a in range(0, lens.size, step):
            b = min(a + step, lens.size)
            lo, hi = int(offsets[a]), int(offsets[b])
            idx = np.repeat(word[a:b] - offsets[a:b], lens[a:b])
            idx += np.arange(lo, hi, dtype=np.int64)
            frames[lo:hi] = words[idx]
        tab = tr.stacks
        tab.ids, tab.offsets, tab.frames = ids, offsets, frames
        del words
    if ev_parts:
        ev = np.concatenate(ev_parts) if len(ev_parts) > 1 else ev_parts[0]
        ev_parts.clear()
        ts = ev["ts"]
        if ts.size > 1 and not bool((ts[1:] >= ts[:-1]).all()):   # threads interleave: order by time
            ev = ev[np.argsort(ts, kind="stable")]
        tr.events = ev
        tr.end_ns = max(tr.end_ns, int(tr.events["ts"][-1]))
    return tr


def _drop(data, start: int, end: int) -> None:
    try:
        data.madvise(mmap.MADV_DONTNEED, start, end - start)
    except (AttributeError, OSError, ValueError):
        pass


def _misc(tr: Trace, data, pos: int, end: int, st_ids: array, st_word: array, st_len: array) -> None:
    u64 = struct.Struct("<QQ")
    unpack = u64.unpack_from
    while pos + 16 <= end:
        head, ts = unpack(data, pos)
        if head == 0:
            return
        kind, ln, rid = head & 0xFF, (head >> 8) & 0xFFFFFF, head >> 32
        body = pos + 16
        if body + ln > end:
            return  # cut by truncation
        if kind == MISC_STACK:
            st_ids.append(rid)
            st_word.append(body // 8)
            st_len.append(ln // 8)
        elif kind == MISC_THREAD and ln >= 24:
            tid = struct.unpack_from("<I", data, body)[0]
            name = bytes(data[body + 8: body + 24]).split(b"\0", 1)[0].decode(errors="replace")
            tr.threads[rid] = (tid, name)
        elif kind == MISC_RSS and ln >= 16:
            res, shared = struct.unpack_from("<QQ", data, body)
            tr.rss.append((ts, res, shared))
        pos = body + ((ln + 7) & ~7)


def _blob(tr: Trace, data, pos: int, end: int, path: str, off: int) -> None:
    if pos + 24 > end:
        return
    kind, ln, ts = struct.unpack_from("<QQQ", data, pos)
    if kind == 0:
        return
    body = pos + 24
    if body + ln > end:
        return
    raw = bytes(data[body: body + ln])
    if kind == BLOB_MAPS:
        tr.maps.append((ts, raw))
    elif kind == BLOB_CMDLINE:
        tr.cmdline = [a.decode(errors="surrogateescape") for a in raw.rstrip(b"\0").split(b"\0")]
    elif kind == BLOB_EXE:
        tr.exe = raw.decode(errors="surrogateescape")
    elif kind == BLOB_MALLINFO2 and ln >= 88:
        vals = struct.unpack_from("<10QQ", raw, 0)
        tr.mallinfo.append((ts, vals[:10], vals[10]))
    elif kind == BLOB_MALLOC_INFO:
        tr.malloc_info.append((ts, raw))
    elif kind == BLOB_PAGEMAP and ln >= 24:
        reason, live, nr = struct.unpack_from("<QQQ", raw, 0)
        if 24 + nr * 16 > ln:
            raise _bad(path, f"corrupt pagemap snapshot at offset {off}")
        ranges = np.frombuffer(raw, dtype="<u8", count=nr * 2, offset=24).reshape(-1, 2)
        bits = []
        p = 24 + nr * 16
        for lo, hi in ranges:
            pages = int(hi - lo) // 4096
            nbytes = ((pages + 63) // 64) * 8
            if p + nbytes > ln:
                break
            b = np.unpackbits(np.frombuffer(raw, dtype=np.uint8, count=nbytes, offset=p), bitorder="little")
            bits.append(b[:pages].astype(bool))
            p += nbytes
        ranges = ranges[: len(bits)]
        tr.snapshots.append(Snapshot(REASONS.get(reason, str(reason)), ts, live, ranges, bits))
    elif kind == BLOB_EXIT:
        tr.complete = True
        tr.end_ns = max(tr.end_ns, ts)
