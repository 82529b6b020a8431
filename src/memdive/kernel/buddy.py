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
            block_types = [t.decode("ascii", "replace") for t in s[len(b"Number of blocks type"):].split()]
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
            free.append(PageTypeFree(node=node, zone=zone, migrate_type=toks[0].decode("ascii", "replace"),
                                     free_blocks=tuple(c for c, _ in counts),
                                     capped=tuple(f for _, f in counts)))
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
    return PageTypeInfo(pageblock_order=order, pages_per_block=per_block, free=tuple(free), blocks=tuple(blocks))


def read_pagetypeinfo(root: KernelRoot | None = None) -> PageTypeInfo:
    """AccessDenied without root (the file is 0400 since 5.4)."""
    p = resolve(root).proc_path("pagetypeinfo")
    return parse_pagetypeinfo(read_bytes(p, what=PAGETYPEINFO_HINT), p)
