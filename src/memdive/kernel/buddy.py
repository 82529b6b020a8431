"""The buddy allocator's files and compaction knobs: /proc/buddyinfo, /proc/pagetypeinfo,
/proc/sys/vm/compact_memory, /sys/devices/system/node/nodeN/compact, and process_madvise(MADV_COLLAPSE).
"""

from __future__ import annotations

from ..errors import ParseError
from ..models.hugepages import BuddyZone, PageTypeBlocks, PageTypeFree, PageTypeInfo
from .io import read_bytes
from .root import KernelRoot, resolve

PAGETYPEINFO_HINT = "/proc/pagetypeinfo is readable by root only (since Linux 5.4): run as root"


def _node_zone(head: bytes, path: str, line: bytes) -> tuple[int, str]:
    """'Node 0, zone   Normal' -> (0, 'Normal')."""
    left, sep, right = head.partition(b",")
    lp, rp = left.split(), right.split()
    if not sep or len(lp) != 2 or lp[0] != b"Node" or len(rp) != 2 or rp[0] != b"zone" or not lp[1].isdigit():
        raise ParseError(f"{path}: malformed line {line[:80]!r}", path=path)
    return int(lp[1]), rp[1].decode("ascii", "replace")


def parse_buddyinfo(data: bytes, path: str = "buddyinfo") -> list[BuddyZone]:
    """'Node 0, zone   Normal   4   3 ...' per line; any number of order columns (11, 12, ...)."""
    out: list[BuddyZone] = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        parts = line.split()
        # Node N, zone NAME c0 c1 ...
        if len(parts) < 5:
            raise ParseError(f"{path}: malformed line {line[:80]!r}", path=path)
        node, zone = _node_zone(b" ".join(parts[:4]), path, line)
        try:
            counts = tuple(int(x) for x in parts[4:])
        except ValueError:
            raise ParseError(f"{path}: malformed count in {line[:80]!r}", path=path) from None
        if out and len(counts) != len(out[0].free_blocks):
            raise ParseError(f"{path}: lines with different numbers of orders (truncated?)", path=path)
        out.append(BuddyZone(node=node, zone=zone, free_blocks=counts))
    if not out:
        raise ParseError(f"{path}: no zones", path=path)
    return out


def read_buddyinfo(root: KernelRoot | None = None) -> list[BuddyZone]:
    """Free blocks per order of every zone of every node, in the kernel's order."""
    p = resolve(root).proc_path("buddyinfo")
    return parse_buddyinfo(read_bytes(p), p)


def _count(tok: bytes, path: str) -> tuple[int, bool]:
    capped = tok.startswith(b">")
    try:
        return int(tok[1:] if capped else tok), capped
    except ValueError:
        raise ParseError(f"{path}: malformed count {tok[:20]!r}", path=path) from None


def parse_pagetypeinfo(data: bytes, path: str = "pagetypeinfo") -> PageTypeInfo:
    """Parse /proc/pagetypeinfo: the header, free lists per migrate type (with '>100000'), block counts.

    Sections after the block counts (e.g. 'Number of mixed blocks' on CONFIG_PAGE_OWNER) are ignored.
    """
    order = per_block = None
    free: list[PageTypeFree] = []
    blocks: list[PageTypeBlocks] = []
    block_types: list[str] | None = None
    section = ""
    for line in data.split(b"\n"):
        s = line.strip()
        if not s:
            continue
        if s.startswith(b"Page block order:"):
            order = _count(s.split(b":")[1].strip(), path)[0]
        elif s.startswith(b"Pages per block:"):
            per_block = _count(s.split(b":")[1].strip(), path)[0]
        elif s.startswith(b"Free pages count per migrate type"):
            section = "free"
        elif s.startswith(b"Number of blocks type"):
            section = "blocks"
            block_types = [t.decode("ascii", "replace") for t in s[len(b"Number of blocks type") :].split()]
        elif s.startswith(b"Number of"):
            section = "other"
        elif section == "free" and s.startswith(b"Node"):
            head, sep, rest = s.partition(b", type")
            if not sep:
                raise ParseError(f"{path}: malformed line {line[:80]!r}", path=path)
            node, zone = _node_zone(head, path, line)
            toks = rest.split()
            if len(toks) < 2:
                raise ParseError(f"{path}: malformed line {line[:80]!r}", path=path)
            counts = [_count(t, path) for t in toks[1:]]
            free.append(
                PageTypeFree(
                    node=node,
                    zone=zone,
                    migrate_type=toks[0].decode("ascii", "replace"),
                    free_blocks=tuple(c for c, _ in counts),
                    capped=tuple(f for _, f in counts),
                )
            )
        elif section == "blocks" and s.startswith(b"Node"):
            parts = s.split()
            node, zone = _node_zone(b" ".join(parts[:4]), path, line)
            vals = [_count(t, path)[0] for t in parts[4:]]
            if block_types is None or len(vals) != len(block_types):
                raise ParseError(f"{path}: block counts do not match the header in {line[:80]!r}", path=path)
            blocks.append(PageTypeBlocks(node=node, zone=zone, blocks=dict(zip(block_types, vals))))
    if order is None or per_block is None:
        raise ParseError(f"{path}: no 'Page block order' header (truncated?)", path=path)
    if not free:
        raise ParseError(f"{path}: no free-list rows (truncated?)", path=path)
    return PageTypeInfo(
        pageblock_order=order, pages_per_block=per_block, free=tuple(free), blocks=tuple(blocks)
    )


def read_pagetypeinfo(root: KernelRoot | None = None) -> PageTypeInfo:
    """AccessDenied without root (the file is 0400 since 5.4)."""
    p = resolve(root).proc_path("pagetypeinfo")
    return parse_pagetypeinfo(read_bytes(p, what=PAGETYPEINFO_HINT), p)


def parse_extfrag_index(data: bytes) -> dict[tuple[int, str], tuple[int, ...]]:
    """debugfs extfrag/unusable_index or extfrag_index -> {(node, zone): values in thousandths}."""
    out = {}
    for line in data.decode("ascii", "replace").splitlines():
        parts = line.split()
        if len(parts) < 5 or parts[0] != "Node":
            continue
        vals = []
        for tok in parts[4:]:
            q, _, r = tok.partition(".")
            try:  # '%d.%03d' of v / 1000 and v % 1000: '-1.000' is -1000, '0.-500' is -500
                vals.append(int(q) * 1000 - int(r) if q.startswith("-") else int(q) * 1000 + int(r))
            except ValueError:
                raise ParseError(f"extfrag index: malformed value {tok!r}") from None
        out[(int(parts[1].rstrip(",")), parts[3])] = tuple(vals)
    return out


def read_extfrag_index(debugfs: str, name: str = "unusable_index") -> dict[tuple[int, str], tuple[int, ...]]:
    """The kernel's own indices from a mounted debugfs (DEBUGFS/extfrag/NAME; CONFIG_COMPACTION+DEBUG_FS)."""
    p = f"{debugfs}/extfrag/{name}"
    return parse_extfrag_index(
        read_bytes(p, what="debugfs is not mounted, or the kernel lacks CONFIG_DEBUG_FS")
    )


# --- compaction and collapse (writes; callers ask for --yes) -------------------------------------------

COMPACT_HINT = "triggering compaction needs root (and CONFIG_COMPACTION=y)"
COLLAPSE_HINT = (
    "process_madvise(MADV_COLLAPSE) needs Linux 6.1+, CAP_SYS_NICE and ptrace access "
    "to the target: run as root"
)


def compact_path(node: int | None, root: KernelRoot | None = None) -> str:
    r = resolve(root)
    return (
        r.proc_path("sys/vm/compact_memory")
        if node is None
        else r.sys_path(f"devices/system/node/node{node}/compact")
    )


def compact(node: int | None = None, root: KernelRoot | None = None) -> None:
    """Compact every zone (node None: /proc/sys/vm/compact_memory) or one node's (nodeN/compact).

    The write returns when the kernel has finished the pass (it runs in the writer's context)."""
    import os

    from ..errors import AccessDenied, InvalidInput
    from .io import write_text

    p = compact_path(node, root)
    if node is not None and not os.path.exists(p):
        raise InvalidInput(f"node {node} has no compact file (no such node, or CONFIG_COMPACTION=n)", path=p)
    try:
        write_text(p, "1", what=COMPACT_HINT)
    except AccessDenied:
        raise AccessDenied(f"permission denied writing {p}", path=p, hint=COMPACT_HINT) from None


def collapse(pid: int, start: int, end: int, pidfd: int | None = None) -> int:
    """process_madvise(pidfd, [start, end), MADV_COLLAPSE): synchronous collapse to PMD-size THP.

    Returns the bytes the kernel reports advised. The pidfd pins the process (no PID-reuse race): pass one
    opened before the ranges were chosen, or one is opened here.
    Raises KernelFeatureMissing (EINVAL/ENOSYS before 6.1), AccessDenied (EPERM), or MemdiveError with the
    kernel's errno for a range it could not collapse (EAGAIN: busy pages, ENOMEM: no huge page free).
    """
    import ctypes
    import errno
    import os

    from ..errors import AccessDenied, KernelFeatureMissing, MemdiveError
    from . import libc as _libc

    class IoVec(ctypes.Structure):
        _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]

    fd = _libc.pidfd_open(pid) if pidfd is None else pidfd
    try:
        iov = IoVec(start, end - start)
        ret = _libc.libc().syscall(
            ctypes.c_long(_libc.syscall_nr("process_madvise")),
            ctypes.c_int(fd),
            ctypes.byref(iov),
            ctypes.c_size_t(1),
            ctypes.c_int(_libc.MADV["collapse"]),
            ctypes.c_uint(0),
        )
        if ret < 0:
            e = ctypes.get_errno()
            msg = f"process_madvise(MADV_COLLAPSE) on {start:#x}-{end:#x} of process {pid}: {os.strerror(e)}"
            if e == errno.ENOSYS:
                raise KernelFeatureMissing(msg, pid=pid, hint=COLLAPSE_HINT)
            if e in (errno.EPERM, errno.EACCES):
                raise AccessDenied(msg, pid=pid, hint=COLLAPSE_HINT)
            if e == errno.ESRCH:
                from ..errors import NoSuchProcess

                raise NoSuchProcess(f"process {pid} exited", pid=pid)
            hint = {
                errno.EINVAL: "the range is not a THP-eligible anonymous/shmem/file region, or the "
                "kernel is older than 6.1 (no MADV_COLLAPSE)",
                errno.EAGAIN: "pages were busy (locked, under writeback, or pinned): try again",
                errno.ENOMEM: "no free huge page could be had (memory fragmented: see `memdive frag`), "
                "or part of the range is not mapped",
            }.get(e)
            err = MemdiveError(msg, pid=pid, hint=hint)
            err.errno = e  # type: ignore[attr-defined]
            raise err
        return int(ret)
    finally:
        if pidfd is None:
            os.close(fd)
