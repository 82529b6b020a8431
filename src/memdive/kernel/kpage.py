"""/proc/kpageflags, /proc/kpagecount, /proc/kpagecgroup: one uint64 per physical page (PFN).

All three need CAP_SYS_ADMIN (mode 0400, root). Reading one whole costs ~0.45 s on a 24 GiB
machine (the kernel looks up every page), so only the PFNs asked for are read: sorted, unique,
cut into runs where neighbours are more than GAP entries apart, one pread per run.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from ..errors import AccessDenied, KernelFeatureMissing
from .io import translate
from .root import KernelRoot, resolve

FILES = ("kpageflags", "kpagecount", "kpagecgroup")
GAP = 32                  # read across gaps up to this many entries (a pread costs ~ 15-40 entries)
MAX_SPAN = 1 << 18        # entries per scratch buffer (2 MiB per thread)

# Documentation/admin-guide/mm/pagemap.rst, bits 0-26; page-types' one-letter symbols.
KPF_NAMES: dict[int, tuple[str, str]] = {
    0: ("L", "locked"), 1: ("E", "error"), 2: ("R", "referenced"), 3: ("U", "uptodate"),
    4: ("D", "dirty"), 5: ("l", "lru"), 6: ("A", "active"), 7: ("S", "slab"), 8: ("W", "writeback"),
    9: ("I", "reclaim"), 10: ("B", "buddy"), 11: ("M", "mmap"), 12: ("a", "anonymous"),
    13: ("s", "swapcache"), 14: ("b", "swapbacked"), 15: ("H", "compound_head"),
    16: ("T", "compound_tail"), 17: ("G", "huge"), 18: ("u", "unevictable"), 19: ("X", "hwpoison"),
    20: ("n", "nopage"), 21: ("x", "ksm"), 22: ("t", "thp"), 23: ("o", "offline"),
    24: ("z", "zero_page"), 25: ("i", "idle_page"), 26: ("g", "pgtable"),
}
KPF = {name: bit for bit, (_, name) in KPF_NAMES.items()}
NAMED_BITS = 27


def flag_names(flags: int) -> list[str]:
    """Names of set bits 0-26; higher bits (kernel-internal, unstable) as 'bit<N>'."""
    out = [KPF_NAMES[b][1] for b in range(NAMED_BITS) if flags >> b & 1]
    out += [f"bit{b}" for b in range(NAMED_BITS, 64) if flags >> b & 1]
    return out


def flag_symbol(flags: int) -> str:
    """page-types-style symbol string: one letter per named bit, '_' when clear, '+0x..' for higher."""
    s = "".join(KPF_NAMES[b][0] if flags >> b & 1 else "_" for b in range(NAMED_BITS))
    hi = flags >> NAMED_BITS << NAMED_BITS
    return s + (f"+{hi:#x}" if hi else "")


def open_files(root: KernelRoot | None = None, which: tuple[str, ...] = FILES) -> dict[str, int]:
    """Open the kpage* files; raises AccessDenied (not root) or KernelFeatureMissing. Caller closes."""
    r = resolve(root)
    out: dict[str, int] = {}
    try:
        for name in which:
            path = r.proc_path(name)
            try:
                out[name] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                err = translate(exc, path, None, "needs CAP_SYS_ADMIN: run as root" if name != "kpagecgroup"
                                else "needs CAP_SYS_ADMIN and CONFIG_MEMCG")
                if isinstance(err, KernelFeatureMissing) and name == "kpagecgroup":
                    continue   # optional: kernels without CONFIG_MEMCG
                raise err from None
    except (AccessDenied, KernelFeatureMissing):
        close_files(out)
        raise
    return out


def close_files(fds: dict[str, int]) -> None:
    for fd in fds.values():
        os.close(fd)


def _read_span(fd: int, lo: int, n: int, buf: np.ndarray) -> np.ndarray:
    view = buf[:n]
    mv = view.data.cast("B")
    got = 0
    while got < n * 8:
        try:
            k = os.preadv(fd, [mv[got:]], lo * 8 + got)
        except OSError as exc:
            raise translate(exc, "kpage*", None) from None
        if k <= 0:
            view[got // 8:] = 0     # beyond max_pfn: no page there
            break
        got += k
    return view


def runs(u: np.ndarray, gap: int = GAP) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut sorted unique PFNs into runs: (first PFN, last PFN, index of the run's first element).
    Computed in chunks: no temporary as large as `u`."""
    if len(u) == 0:
        z = np.empty(0, np.int64)
        return z, z, z
    v = u.view(np.int64)
    ch = 1 << 18
    brks = [np.flatnonzero(np.diff(v[a:a + ch + 1]) > gap) + (a + 1) for a in range(0, len(v) - 1, ch)]
    brk = np.concatenate(brks) if brks else np.empty(0, np.int64)
    starts = np.concatenate(([0], brk))
    ends = np.concatenate((brk, [len(u)])) - 1
    return v[starts], v[ends], starts


_pool = None
_local = threading.local()
THREADS = min(4, os.cpu_count() or 1)


def _executor():
    global _pool
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="memdive-kpage")
    return _pool


def _scratch() -> np.ndarray:
    buf = getattr(_local, "buf", None)
    if buf is None or len(buf) != MAX_SPAN:
        buf = _local.buf = np.empty(MAX_SPAN, dtype=np.uint64)
    return buf


def _read_runs(fd: int, u: np.ndarray, lo: list[int], hi: list[int], bounds: list[int], r0: int, r1: int,
               res: np.ndarray) -> None:
    """Values of u[bounds[r0]:bounds[r1]] into res: runs are read back to back into the scratch buffer
    (one preadv each), and each buffer-full is gathered with one numpy operation."""
    scratch = _scratch()
    mv = scratch.data.cast("B")
    i = r0
    while i < r1:
        if hi[i] - lo[i] + 1 > MAX_SPAN:      # a run wider than the buffer: window by window
            p, q = bounds[i], bounds[i + 1]
            part = u[p:q].view(np.int64)
            wins = list(range(lo[i], hi[i] + 1, MAX_SPAN))
            cut = np.searchsorted(part, wins + [hi[i] + 1]).tolist()   # before res (maybe u) is written
            for k, w in enumerate(wins):
                j0, j1 = cut[k], cut[k + 1]
                if j0 < j1:
                    span = _read_span(fd, w, min(MAX_SPAN, hi[i] + 1 - w), scratch)
                    res[p + j0:p + j1] = span[part[j0:j1] - w]
            i += 1
            continue
        fill = 0
        j = i
        while j < r1 and fill + hi[j] - lo[j] + 1 <= MAX_SPAN:
            n = hi[j] - lo[j] + 1
            got = _pread_into(fd, mv, fill, lo[j], n)
            if got < n:
                scratch[fill + got:fill + n] = 0      # beyond the last PFN
            fill += n
            j += 1
        # position in the scratch buffer of every u in runs i..j-1
        p, q = bounds[i], bounds[j]
        starts = np.array(lo[i:j], dtype=np.int64)
        base = np.cumsum(np.array([0] + [hi[k] - lo[k] + 1 for k in range(i, j - 1)], dtype=np.int64))
        counts = np.diff(np.array(bounds[i:j + 1], dtype=np.int64))
        off = u[p:q].view(np.int64) + np.repeat(base - starts, counts.astype(np.intp))
        res[p:q] = scratch[off]
        i = j


def _pread_into(fd: int, mv: memoryview, at: int, pfn: int, n: int) -> int:
    """Read n entries from index pfn into the scratch buffer at entry `at`; returns entries read."""
    got = 0
    while got < n * 8:
        try:
            k = os.preadv(fd, [mv[at * 8 + got:(at + n) * 8]], pfn * 8 + got)
        except OSError as exc:
            raise translate(exc, "kpage*", None) from None
        if k <= 0:
            break
        got += k
    return got // 8


def lookup_sorted(u: np.ndarray, fds: dict[str, int], buf: np.ndarray | None = None,
                  threads: int | None = None, reuse_input: bool = False) -> dict[str, np.ndarray]:
    """kpage* values for sorted unique PFNs `u` (uint64), from every open file in `fds`.

    Each run is read with one pread per file (split at MAX_SPAN entries); nothing else is read.
    The kernel spends ~100 ns per entry, so runs are read by up to THREADS threads (pread releases
    the GIL); each thread has one MAX_SPAN scratch buffer.
    """
    if reuse_input and (len(fds) != 1 or u.dtype != np.uint64 or not u.flags.c_contiguous):
        reuse_input = False
    u = np.ascontiguousarray(u, dtype=np.uint64)
    lo_a, hi_a, first = runs(u)
    lo, hi = lo_a.tolist(), hi_a.tolist()
    bounds = np.concatenate((first, [len(u)])).tolist()
    # reuse_input (one file): each run's values overwrite its own PFNs in `u` (the index is computed
    # before the assignment), which saves an array as large as `u`
    if reuse_input and len(fds) == 1 and u.dtype == np.uint64:
        out = {name: u for name in fds}
    else:
        out = {name: np.empty(len(u), dtype=np.uint64) for name in fds}
    nthreads = THREADS if threads is None else threads
    work = [(fd, 0, len(lo), out[name]) for name, fd in fds.items()]
    total = int((hi_a - lo_a + 1).sum()) * len(fds)
    if nthreads > 1 and total >= 65536 and len(lo):
        # cut each file's runs into parts of about equal entries; run all parts on the pool
        cum = np.cumsum(hi_a - lo_a + 1)
        parts = max(1, nthreads // len(fds) + (nthreads % len(fds) > 0)) if len(fds) < nthreads else 1
        cuts = [0] + [int(np.searchsorted(cum, cum[-1] * k / parts)) for k in range(1, parts)] + [len(lo)]
        work = [(fd, cuts[k], cuts[k + 1], out[name]) for name, fd in fds.items() for k in range(parts)
                if cuts[k] < cuts[k + 1]]
        futs = [_executor().submit(_read_runs, fd, u, lo, hi, bounds, a, z, res) for fd, a, z, res in work]
        for f in futs:
            f.result()
    else:
        for fd, a, z, res in work:
            _read_runs(fd, u, lo, hi, bounds, a, z, res)
    return out


def unique_counts(pfns: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Sorted unique PFNs and their multiplicities (None when every PFN occurs once)."""
    s = np.sort(pfns)
    if len(s) < 2:
        return s, None
    new = np.empty(len(s), dtype=bool)
    new[0] = True
    np.not_equal(s[1:], s[:-1], out=new[1:])
    if new.all():
        return s, None
    idx = np.flatnonzero(new)
    return s[idx], np.diff(np.concatenate((idx, [len(s)])))


def lookup(pfns: np.ndarray, fds: dict[str, int], buf: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """kpage* values for each PFN in any order (small sets: phys, --list)."""
    pfns = np.ascontiguousarray(pfns, dtype=np.uint64)
    u, inv = np.unique(pfns, return_inverse=True)
    vals = lookup_sorted(u, fds, buf)
    return {k: v[inv.reshape(-1)] for k, v in vals.items()}


def read_one(name: str, pfn: int, root: KernelRoot | None = None) -> int:
    """One entry (phys lookups)."""
    fds = open_files(root, (name,))
    try:
        if name not in fds:
            raise KernelFeatureMissing(f"/proc/{name} is not available on this kernel")
        return int(_read_span(fds[name], pfn, 1, np.empty(1, np.uint64))[0])
    finally:
        close_files(fds)


def parse_entries(data: bytes) -> np.ndarray:
    """Captured kpage* bytes -> uint64 array (index = PFN)."""
    return np.frombuffer(data[: len(data) // 8 * 8], dtype="<u8")


def memcg_paths(inodes: set[int], root: KernelRoot | None = None) -> dict[int, str]:
    """Memory cgroup inode -> path, by walking the memory cgroup tree(s) (v1 'memory' or v2)."""
    r = resolve(root)
    out: dict[int, str] = {}
    want = set(inodes) - {0}
    for base in (r.sys_path("fs/cgroup/memory"), r.sys_path("fs/cgroup/unified"), r.sys_path("fs/cgroup")):
        if not want or not os.path.isdir(base):
            continue
        for d, subdirs, _ in os.walk(base):
            try:
                ino = os.stat(d).st_ino
            except OSError:
                continue
            if ino in want:
                out[ino] = "/" + os.path.relpath(d, base).lstrip(".")
                want.discard(ino)
                if not want:
                    break
    return out


# --- /sys/kernel/mm/page_idle/bitmap (CONFIG_IDLE_PAGE_TRACKING) ------------------------------
# Documentation/admin-guide/mm/idle_page_tracking.rst: one bit per PFN, the page at PFN i is bit
# i % 64 of the 8-byte word i // 64, native byte order; a set bit means idle. Reads and writes must
# start on an 8-byte boundary and be a multiple of 8 bytes (else EINVAL); writes are OR-ed into the
# bitmap (writing 0 bits changes nothing; idle flags are cleared only by the kernel, on access);
# writing beyond max PFN gives ENXIO. Only LRU pages take the flag (others are silently ignored),
# and for huge pages only the head page carries it. Root only (mode 0600).

IDLE_BITMAP = "kernel/mm/page_idle/bitmap"
IDLE_HINT = "the idle page bitmap needs CONFIG_IDLE_PAGE_TRACKING (absent: use --method referenced)"
WORD_BYTES = 8
_WORD = np.dtype("=u8")          # native byte order, as the kernel reads and writes the words
KPF_COMPOUND_HEAD, KPF_COMPOUND_TAIL = 15, 16


def idle_available(root: KernelRoot | None = None) -> bool:
    return os.path.exists(resolve(root).sys_path(IDLE_BITMAP))


def open_idle_bitmap(root: KernelRoot | None = None) -> int:
    """An O_RDWR fd on the idle page bitmap. KernelFeatureMissing without CONFIG_IDLE_PAGE_TRACKING,
    AccessDenied unless root. Caller closes it."""
    path = resolve(root).sys_path(IDLE_BITMAP)
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        raise KernelFeatureMissing("idle page tracking: unavailable on this kernel (CONFIG_IDLE_PAGE_TRACKING)",
                                   path=path, hint=IDLE_HINT) from None
    except OSError as exc:
        raise translate(exc, path, None, "the idle page bitmap needs root (CAP_SYS_ADMIN)") from None


def idle_words(pfns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PFNs (any order, repeats allowed) -> (sorted unique word indexes, the OR of their bits per word)."""
    p = np.sort(np.asarray(pfns, dtype=np.uint64))
    if len(p) == 0:
        return np.empty(0, np.uint64), np.empty(0, _WORD)
    w = p >> np.uint64(6)
    bits = np.left_shift(np.uint64(1), p & np.uint64(63))
    starts = np.flatnonzero(np.concatenate(([True], w[1:] != w[:-1])))
    return w[starts], np.bitwise_or.reduceat(bits, starts).astype(_WORD)


def idle_bits(pfns: np.ndarray, words: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The bit of each PFN in word values read for the sorted word indexes `words` (bool array);
    a PFN whose word was not read is an error of the caller (IndexError)."""
    p = np.asarray(pfns, dtype=np.uint64)
    i = np.searchsorted(words, p >> np.uint64(6))
    if len(p) and (i.max() >= len(words) or (words[i] != p >> np.uint64(6)).any()):
        raise IndexError("a PFN's bitmap word was not read")
    return ((values[i].astype(np.uint64) >> (p & np.uint64(63))) & np.uint64(1)).astype(bool)


def idle_spans(words: np.ndarray, gap: int = 0) -> list[tuple[int, int, int]]:
    """Runs of word indexes -> (byte offset, first index into `words`, end index): consecutive words
    (up to `gap` words apart for reads) become one whole-word read or write at a multiple of 8."""
    if len(words) == 0:
        return []
    w = words.astype(np.int64)
    brk = np.flatnonzero(np.diff(w) > gap + 1) + 1
    a = np.concatenate(([0], brk)).tolist()
    z = np.concatenate((brk, [len(w)])).tolist()
    return [(int(w[i]) * WORD_BYTES, i, j) for i, j in zip(a, z)]


def write_idle(fd: int, words: np.ndarray, masks: np.ndarray) -> None:
    """Set the bits `masks` in the words `words` (sorted unique): one pwrite per run of consecutive
    words, whole words only; other bits of each word are written as 0, which the kernel leaves as
    they were (writes are OR-ed)."""
    m = np.ascontiguousarray(masks, dtype=_WORD)
    for off, i, j in idle_spans(words):
        data = m[i:j].tobytes()
        done = 0
        while done < len(data):
            try:
                done += os.pwrite(fd, data[done:], off + done)
            except OSError as exc:
                raise translate(exc, "page_idle/bitmap", None, IDLE_HINT) from None


def read_idle(fd: int, words: np.ndarray, gap: int = 8) -> np.ndarray:
    """The current values of the words `words` (sorted unique), native uint64. Reads whole words in
    runs (up to `gap` unwanted words read across: each read word costs the kernel an rmap walk of its
    idle pages, so the gap stays small)."""
    out = np.zeros(len(words), dtype=_WORD)
    w = words.astype(np.int64)
    for off, i, j in idle_spans(words, gap):
        n = int(w[j - 1] - w[i]) + 1
        try:
            data = os.pread(fd, n * WORD_BYTES, off)
        except OSError as exc:
            raise translate(exc, "page_idle/bitmap", None, IDLE_HINT) from None
        got = np.frombuffer(data[: len(data) // WORD_BYTES * WORD_BYTES], dtype=_WORD)
        rel = w[i:j] - w[i]
        ok = rel < len(got)                     # beyond the end (a fixture file): 0, not idle
        out[i:j][ok] = got[rel[ok]]
    return out


def _unique_inverse(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique values and each element's index among them (np.unique is slow on millions)."""
    s = np.sort(p)
    keep = np.empty(len(s), dtype=bool)
    keep[:1] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    u = s[keep]
    return u, np.searchsorted(u, p)


def head_pfns(pfns: np.ndarray, fd_kpageflags: int, max_order: int = 18) -> np.ndarray:
    """The PFN of each page's compound head (the page itself unless kpageflags marks it a tail); only
    the idle flag of a head is meaningful. `pfns` in virtual order: a tail continuing a run of
    consecutive PFNs that holds its head takes that head (a THP mapped whole: one pass). Other tails
    (a folio mapped from its middle): folios are naturally aligned, so the head is the first of
    pfn & ~(2**k - 1), k = 1, 2 ..., whose kpageflags has COMPOUND_HEAD."""
    p = np.asarray(pfns, dtype=np.uint64)
    out = p.copy()
    n = len(p)
    if n == 0:
        return out
    u, inv = _unique_inverse(p)
    flags = lookup_sorted(u, {"kpageflags": fd_kpageflags}, threads=1)["kpageflags"][inv]
    tail = ((flags >> np.uint64(KPF_COMPOUND_TAIL)) & np.uint64(1)).astype(bool)
    if not tail.any():
        return out
    head = ((flags >> np.uint64(KPF_COMPOUND_HEAD)) & np.uint64(1)).astype(bool)
    seg = np.cumsum(np.concatenate(([True], p[1:] != p[:-1] + np.uint64(1))))     # runs of consecutive PFNs
    last = np.maximum.accumulate(np.where(head, np.arange(n), -1))               # latest head at or before
    ok = tail & (last >= 0)
    ok[ok] = seg[last[ok]] == seg[ok]
    out[ok] = p[last[ok]]
    todo_pages = np.flatnonzero(tail & ~ok)
    if len(todo_pages) == 0:
        return out
    t, tinv = _unique_inverse(p[todo_pages])
    head_t = t.copy()
    todo = np.arange(len(t))
    for k in range(1, max_order + 1):
        if len(todo) == 0:
            break
        cand = t[todo] & ~np.uint64((1 << k) - 1)
        cu, cinv = _unique_inverse(cand)
        cf = lookup_sorted(cu, {"kpageflags": fd_kpageflags}, threads=1)["kpageflags"][cinv]
        is_head = ((cf >> np.uint64(KPF_COMPOUND_HEAD)) & np.uint64(1)).astype(bool)
        head_t[todo[is_head]] = cand[is_head]
        todo = todo[~is_head]
    out[todo_pages] = head_t[tinv]
    return out
